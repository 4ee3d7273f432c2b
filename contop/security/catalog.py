"""The tools the gate knows, and which of their arguments name a file or folder on the host."""

from __future__ import annotations

CLI_TOOL = "execute_cli"

# Every tool of the seed tool reference. A name outside this set is unknown and never runs on the host.
KNOWN_TOOLS: frozenset[str] = frozenset(
    {
        # core and display-dependent
        "execute_cli", "execute_gui", "observe_screen", "get_ui_context", "execute_accessible",
        "execute_browser", "execute_computer_use", "maximize_active_window", "wait", "get_action_history",
        # skills
        "execute_skill", "load_skill", "create_skill", "edit_skill",
        # files
        "read_file", "edit_file", "find_files",
        # windows and clipboard
        "window_list", "window_focus", "resize_window", "clipboard_read", "clipboard_write",
        # documents
        "read_pdf", "read_image", "read_excel", "write_excel", "convert_document",
        # system
        "process_info", "system_info", "download_file",
        # workflows
        "save_dialog", "open_dialog", "launch_app", "open_file", "close_app", "app_menu", "install_app",
        "copy_between_apps", "fill_form", "extract_text", "set_env_var", "change_setting",
        "find_and_replace_in_files",
    }
)  # fmt: skip

# | tool                      | path arguments              |
# |---------------------------|-----------------------------|
# | read_file                 | file_path                   |
# | edit_file                 | file_path                   |
# | find_files                | path (default: session cwd) |
# | read_pdf                  | path                        |
# | read_image                | path                        |
# | read_excel                | path                        |
# | write_excel               | path                        |
# | convert_document          | input_path, output_path     |
# | download_file             | path (the destination)      |
# | open_file                 | file_path                   |
# | save_dialog               | directory                   |
# | open_dialog               | directory                   |
# | find_and_replace_in_files | path (default: session cwd) |
# | launch_app                | app_name (when it is a path) |
PATH_ARGS: dict[str, tuple[str, ...]] = {
    "read_file": ("file_path",),
    "edit_file": ("file_path",),
    "find_files": ("path",),
    "read_pdf": ("path",),
    "read_image": ("path",),
    "read_excel": ("path",),
    "write_excel": ("path",),
    "convert_document": ("input_path", "output_path"),
    "download_file": ("path",),
    "open_file": ("file_path",),
    "save_dialog": ("directory",),
    "open_dialog": ("directory",),
    "find_and_replace_in_files": ("path",),
    "launch_app": ("app_name",),
}

# The path arguments a tool writes to (a subset of PATH_ARGS): their destination is judged as a shell redirection's
# is. ``download_file``'s path may also name a folder, the file then taking the URL's name.
WRITE_ARGS: dict[str, tuple[str, ...]] = {
    "edit_file": ("file_path",),
    "write_excel": ("path",),
    "convert_document": ("output_path",),
    "download_file": ("path",),
}

# Tools that work on the session's working directory when their path argument is left out.
CWD_DEFAULT: frozenset[str] = frozenset({"find_files", "find_and_replace_in_files"})
