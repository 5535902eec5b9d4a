"""A minimal VTEX marketplace connector on `vtex_order_flow.app` (see README.md here)."""
