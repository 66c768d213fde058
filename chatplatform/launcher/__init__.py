"""`make run` / `make test`: start the embedded services the platform needs on one machine."""
