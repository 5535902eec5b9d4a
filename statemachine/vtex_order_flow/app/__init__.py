"""The connector's web app (ASGI, Starlette): VTEX's order hook, the Channel Order API's
notifications, health and status, and the dispatcher run with the app's lifespan. Needs the
extras: ``pip install 'vtex-order-flow[server]'`` (starlette, uvicorn, and the client's httpx and
stamina).
"""

try:
    import starlette as _starlette  # noqa: F401
except ImportError:  # pragma: no cover (the extra is installed wherever the tests run)
    from ..errors import MissingExtraError

    raise MissingExtraError(
        "vtex_order_flow.app needs starlette: pip install 'vtex-order-flow[server]'"
    ) from None

from ._app import NOTIFICATION_PATH, AppSettings, create_app

__all__ = ["NOTIFICATION_PATH", "AppSettings", "create_app"]
