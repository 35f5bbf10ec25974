"""The simulated app: routes (templates, weights, latency, concrete path makers) and job classes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .ids import hexes, uuid4s

PathMaker = Callable[[np.random.Generator, int, str], list[str]]

WORDS = (
    "red shoes",
    "laptop",
    "usb c cable",
    "coffee",
    "desk lamp",
    "gift card",
    "running",
    "headphones",
    "backpack",
    "water bottle",
    "kids",
    "sale",
    "jacket",
    "phone case",
    "yoga mat",
)


@dataclass(frozen=True)
class Route:
    """One route of the app: how often it is hit, how slow it is and what its paths look like."""

    template: str  # variable segments written as :id
    method: str
    weight: float
    median_ms: float
    sigma: float
    bytes_median: int
    action: str | None  # Rails controller#action; None: no Started/Completed lines (static)
    make: PathMaker
    ok_status: int = 200


def _ids(rng: np.random.Generator, n: int, scale: float = 300.0) -> list[int]:
    """Heavy-tailed positive ids: popular records come back often."""
    return np.minimum((rng.pareto(1.0, n) * scale).astype(np.int64) + 1, 900_000).tolist()


def _pages(rng: np.random.Generator, n: int, p_query: float) -> list[str]:
    """'' or '?page=N' suffixes."""
    page = rng.geometric(0.45, n) + 1
    has = rng.random(n) < p_query
    return [f"?page={p}" if h else "" for p, h in zip(page.tolist(), has.tolist(), strict=True)]


def _fixed(path: str) -> PathMaker:
    return lambda rng, n, digest: [path] * n


def _asset(ext: str) -> PathMaker:
    return lambda rng, n, digest: [f"/assets/application-{digest}.{ext}"] * n


def _user(rng: np.random.Generator, n: int, digest: str) -> list[str]:
    tab = rng.random(n) < 0.2
    return [
        f"/users/{u}?tab=activity" if t else f"/users/{u}"
        for u, t in zip(_ids(rng, n), tab.tolist(), strict=True)
    ]


def _user_orders(rng: np.random.Generator, n: int, digest: str) -> list[str]:
    return [f"/users/{u}/orders{q}" for u, q in zip(_ids(rng, n), _pages(rng, n, 0.4), strict=True)]


def _user_order(rng: np.random.Generator, n: int, digest: str) -> list[str]:
    orders = _ids(rng, n, 3000.0)
    return [f"/users/{u}/orders/{o}" for u, o in zip(_ids(rng, n), orders, strict=True)]


def _item(rng: np.random.Generator, n: int, digest: str) -> list[str]:
    pool = uuid4s(rng, 400)
    pick = np.minimum(rng.pareto(1.2, n) * 20, 399).astype(np.int64).tolist()
    return [f"/api/v1/items/{pool[i]}" for i in pick]


def _product(rng: np.random.Generator, n: int, digest: str) -> list[str]:
    return [f"/products/{p}" for p in _ids(rng, n, 50.0)]


def _search(rng: np.random.Generator, n: int, digest: str) -> list[str]:
    words = rng.integers(0, len(WORDS), n).tolist()
    pages = rng.geometric(0.6, n).tolist()
    return [
        f"/search?q={WORDS[w].replace(' ', '+')}&page={p}"
        for w, p in zip(words, pages, strict=True)
    ]


def _export(rng: np.random.Generator, n: int, digest: str) -> list[str]:
    fmt = rng.choice(np.array(["csv", "xlsx"]), n).tolist()
    return [f"/reports/{r}/export?format={f}" for r, f in zip(_ids(rng, n, 20.0), fmt, strict=True)]


def _receipt(rng: np.random.Generator, n: int, digest: str) -> list[str]:
    return [
        f"/orders/{o}/receipt-{h}.pdf"
        for o, h in zip(_ids(rng, n, 3000.0), hexes(rng, n, 8), strict=True)
    ]


ROUTES: tuple[Route, ...] = (
    Route("/", "GET", 6, 45, 0.5, 14200, "HomeController#index", _fixed("/")),
    Route("/assets/application-:id.css", "GET", 4, 2, 0.6, 48211, None, _asset("css")),
    Route("/assets/application-:id.js", "GET", 4, 3, 0.6, 201733, None, _asset("js")),
    Route("/health", "GET", 3, 2, 0.4, 2, None, _fixed("/health")),
    Route("/users/:id", "GET", 10, 60, 0.55, 9800, "UsersController#show", _user),
    Route("/users/:id/orders", "GET", 8, 90, 0.6, 21500, "OrdersController#index", _user_orders),
    Route("/users/:id/orders/:id", "GET", 5, 70, 0.5, 7400, "OrdersController#show", _user_order),
    Route(
        "/orders/:id/receipt-:id.pdf",
        "GET",
        1,
        240,
        0.5,
        88000,
        "ReceiptsController#show",
        _receipt,
    ),
    Route("/api/v1/items/:id", "GET", 14, 25, 0.6, 1830, "Api::V1::ItemsController#show", _item),
    Route(
        "/api/v1/items",
        "POST",
        3,
        80,
        0.5,
        412,
        "Api::V1::ItemsController#create",
        _fixed("/api/v1/items"),
        201,
    ),
    Route("/api/v1/items/:id", "PATCH", 2, 60, 0.5, 398, "Api::V1::ItemsController#update", _item),
    Route("/products/:id", "GET", 9, 55, 0.5, 12800, "ProductsController#show", _product),
    Route("/search", "GET", 7, 150, 0.7, 16400, "SearchController#index", _search),
    Route("/reports/:id/export", "GET", 1, 1800, 0.45, 380000, "ReportsController#export", _export),
    Route(
        "/checkout", "POST", 2, 350, 0.45, 0, "CheckoutController#create", _fixed("/checkout"), 302
    ),
    Route(
        "/webhooks/stripe",
        "POST",
        2,
        40,
        0.4,
        2,
        "Webhooks::StripeController#create",
        _fixed("/webhooks/stripe"),
    ),
    Route("/session", "POST", 1, 120, 0.4, 0, "SessionsController#create", _fixed("/session"), 302),
    Route("/wp-login.php", "GET", 0.25, 3, 0.5, 1722, "probe", _fixed("/wp-login.php"), 404),
    Route("/.env", "GET", 0.2, 3, 0.5, 1722, "probe", _fixed("/.env"), 404),
    Route("/xmlrpc.php", "POST", 0.1, 3, 0.5, 1722, "probe", _fixed("/xmlrpc.php"), 404),
)


def route_index(template: str, method: str | None = None) -> int:
    """Index in ROUTES of a template (the first one, or the one with this method)."""
    for i, r in enumerate(ROUTES):
        if r.template == template and (method is None or r.method == method):
            return i
    known = sorted({r.template for r in ROUTES})
    raise ValueError(f"unknown route {template!r}; known: {', '.join(known)}")


# Sidekiq job classes: (class, weight, median seconds).
JOBS: tuple[tuple[str, float, float], ...] = (
    ("ActionMailer::MailDeliveryJob", 5, 0.35),
    ("WebhookProcessorJob", 4, 0.12),
    ("SyncInventoryJob", 2, 2.5),
    ("ImportJob", 1, 8.0),
    ("ReportJob", 1, 14.0),
)

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    302: "Found",
    304: "Not Modified",
    404: "Not Found",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}
