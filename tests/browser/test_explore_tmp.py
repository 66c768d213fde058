import time, pytest
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

def test_explore(page, context, page_events, shop_url, stub_llm, celery_worker):
    stub_llm.behaviour.reply = "Hello there, this is a streamed reply from the stub model."
    stub_llm.behaviour.chunk_delay = 0.05
    stub_llm.behaviour.first_token_delay = 2.0
    page.goto(shop_url())
    page.get_by_test_id("launcher").click()
    page.get_by_test_id("status").get_by_text("Online").wait_for()
    page.get_by_test_id("input").fill("hi")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=message][data-role=user][data-seq]")
    context.set_offline(True)
    t0=time.time()
    for i in range(50):
        print(round(time.time()-t0,2), page.get_by_test_id("status").text_content(), page.locator("[data-testid=message]").all_text_contents(), page.locator("[data-testid=streaming]").all_text_contents())
        time.sleep(0.1)
    context.set_offline(False)
    for i in range(30):
        print(round(time.time()-t0,2), page.get_by_test_id("status").text_content(), page.locator("[data-testid=message]").all_text_contents())
        time.sleep(0.1)
    print(page_events)
