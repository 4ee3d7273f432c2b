"""REST and WebSocket routes; every ``/api`` router depends on the admin rule."""
