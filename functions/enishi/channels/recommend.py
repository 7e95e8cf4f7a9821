"""Product recommendations from the shop's catalog (``shop.yaml`` → ``catalog``), pure and deterministic.

Order of preference:
1. products in the same categories as what the customer bought (categories in order of first appearance),
2. then the rest of the catalog — the catalog is listed best-seller first, so its order *is* the popularity rank.
Products the customer already bought are never recommended. Same input → same output (no randomness, no clock).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from enishi.shop_config import Product

DEFAULT_LIMIT = 3


def _purchased_products(catalog: Sequence[Product], purchased: Iterable[Mapping[str, Any]]) -> list[Product]:
    """Catalog entries matching what was bought: by product id, else by exact title."""
    by_id = {p.id: p for p in catalog}
    by_title = {p.title: p for p in catalog}
    found: list[Product] = []
    for item in purchased:
        product = by_id.get(str(item.get("product_id") or "")) or by_title.get(str(item.get("title") or ""))
        if product is not None and product not in found:
            found.append(product)
    return found


def recommend(
    catalog: Sequence[Product], purchased: Iterable[Mapping[str, Any]], limit: int = DEFAULT_LIMIT
) -> list[Product]:
    """Up to ``limit`` products for someone who bought ``purchased`` (line-item dicts with product_id / title)."""
    purchased = list(purchased)
    bought = _purchased_products(catalog, purchased)
    bought_ids = {p.id for p in bought}
    bought_titles = {str(item.get("title") or "") for item in purchased}
    candidates = [p for p in catalog if p.id not in bought_ids and p.title not in bought_titles]

    categories: list[str] = []
    for p in bought:
        if p.category and p.category not in categories:
            categories.append(p.category)

    picked: list[Product] = []
    for category in categories:
        picked.extend(p for p in candidates if p.category == category and p not in picked)
    picked.extend(p for p in candidates if p not in picked)
    return picked[:limit]
