"""The X11 adapter: XTest input, EWMH windows, xclip clipboard, MIT-SCREEN-SAVER idle time, AT-SPI."""
