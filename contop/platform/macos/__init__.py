"""The macOS adapter (Quartz events, System Events, AXUIElement); only its pure parts run in CI."""
