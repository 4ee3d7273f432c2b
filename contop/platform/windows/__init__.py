"""The Windows adapter (SendInput, user32, UI Automation through pywinauto); only its pure parts run in CI."""
