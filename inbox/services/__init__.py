"""The inbox's writes, one small module per concern: presence, routing, the agents' actions on a
conversation (`handling`), replies, notes, read marks. Views, the consumer and the routing task
call these; every change of hands itself goes through `conversations.services.handoff`."""
