from contop.security.catalog import KNOWN_TOOLS
from contop.tools.registry import all_tools


def test_every_registered_tool_is_known_to_the_gate() -> None:
    tools = all_tools()
    assert {
        "execute_cli",
        "read_file",
        "edit_file",
        "find_files",
        "read_pdf",
        "read_image",
        "read_excel",
        "write_excel",
        "process_info",
        "system_info",
        "download_file",
        "wait",
        "get_action_history",
    } <= set(tools)
    unknown = set(tools) - set(KNOWN_TOOLS)
    assert not unknown, f"tools the gate would treat as unknown (blocked): {unknown}"
