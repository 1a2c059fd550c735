"""A save of the image page goes beside any earlier file of the same stem: one of its three
files alone (a json kept from an earlier save) moves the save to stem_2. Mutation audit 17."""

import cv2

from tests.app import test_app_server as server_tests
from tests.app.conftest import demo_image


def test_a_save_does_not_replace_an_earlier_json_alone(app_server):
    """Mutant: api.IMAGE_SAVE naming only the mask (the earlier json was replaced)."""
    base, out = app_server
    out.mkdir(parents=True, exist_ok=True)
    (out / "cat.json").write_text("an earlier save's prompts")
    ok, data = cv2.imencode(".png", cv2.cvtColor(demo_image(2), cv2.COLOR_RGB2BGR))
    status, image = server_tests.call(f"{base}/api/image", data.tobytes(),
                                      {"X-Filename": "cat.png"}, raw=True)
    assert status == 200
    status, saved = server_tests.call(f"{base}/api/save", {"image_id": image["image_id"],
                                                            "steps": server_tests.STEPS[:1]})
    assert status == 200 and [p.rsplit("/", 1)[-1] for p in saved["saved"]] == [
        "cat_2_mask.png", "cat_2_sam_mask.png", "cat_2.json"]
    assert (out / "cat.json").read_text() == "an earlier save's prompts"
