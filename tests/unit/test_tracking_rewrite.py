"""Every link of a message goes through the redirect; images and opt-out links never do."""

from __future__ import annotations

from enishi.tracking.rewrite import track_links

CONTEXT = {
    "shop": {
        "site_url": "https://shop.example.jp/",
        "logo_url": "https://cdn.example.jp/logo.png",
        "sns": [{"key": "instagram", "url": "https://instagram.com/shop"}],
    },
    "links": {
        "unsubscribe_url": "https://api.example/u/1.x.y",
        "preferences_url": "https://api.example/u/1.x.y",
    },
    "cart": {
        "recovery_url": "https://shop.example.jp/checkouts/abc/recover",
        "line_items": [
            {"title": "抹茶", "url": "https://shop.example.jp/p/1", "image_url": "https://cdn/p1.jpg"}
        ],
    },
    "shipment": {"tracking_url": "https://jizen.kuronekoyamato.co.jp/jizen/servlet/crjz.b.NQ0010?id=1"},
    "customer": {"first_name": "花子"},
}


def fake(name: str, url: str) -> str:
    return f"https://api.example/r/{name}|{url}"


def test_links_are_tracked_by_their_path_and_nothing_else_changes() -> None:
    out = track_links(CONTEXT, fake)
    assert out["shop"]["site_url"] == "https://api.example/r/shop.site_url|https://shop.example.jp/"
    assert out["cart"]["recovery_url"].startswith("https://api.example/r/cart.recovery_url|")
    assert (
        out["cart"]["line_items"][0]["url"]
        == "https://api.example/r/cart.line_items.0.url|https://shop.example.jp/p/1"
    )
    assert out["shop"]["sns"][0]["url"].startswith("https://api.example/r/shop.sns.0.url|")
    # never rewritten: images, the logo, opt-out links, anything that is not an absolute http(s) URL
    assert out["cart"]["line_items"][0]["image_url"] == "https://cdn/p1.jpg"
    assert out["shop"]["logo_url"] == CONTEXT["shop"]["logo_url"]  # type: ignore[index]
    assert out["links"] == CONTEXT["links"]
    assert out["shipment"] == CONTEXT["shipment"]  # the carrier's link: the customer sees where it goes
    assert out["customer"] == {"first_name": "花子"}
    assert CONTEXT["cart"]["recovery_url"] == "https://shop.example.jp/checkouts/abc/recover"  # type: ignore[index]


def test_a_link_the_maker_declines_stays_as_it_is() -> None:
    out = track_links(CONTEXT, lambda name, url: None)
    assert out == CONTEXT
