"""OS-specific desktop access behind one protocol (``base.PlatformAdapter``); ``base.get_adapter()`` picks one.

Screen capture (``capture``) and coordinate scaling (``geometry``) are shared by every OS.
"""
