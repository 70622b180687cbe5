"""Development helpers: local clusters for ``make``; the runtime never imports them."""
