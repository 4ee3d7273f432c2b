"""Settings page: the settings of ``settings.json`` through GET/PUT ``/api/settings``, plus skills and PINs.

The form is reloaded whenever the page is shown, and a save sends only the fields the user changed: settings.json
is also edited by hand, reset through the API and written by other clients, and those changes must survive.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QLocale, Qt
from PySide6.QtGui import QDoubleValidator, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from contop.desktop.api import ApiClient, ApiError, NotAvailable
from contop.desktop.forms import (
    changed_fields,
    conflicting_fields,
    field_errors,
    front_matter,
    merged_settings,
    skill_template,
    typed_changes,
    validate_pins,
    validate_skill,
)
from contop.desktop.style import mono_font
from contop.desktop.tasks import TaskRunner
from contop.desktop.widgets import (
    Card,
    ComboBox,
    ListEditor,
    NumberField,
    Page,
    button,
    field_error,
    in_sentence,
    muted,
    note,
    rich_safe,
    show_error,
)

NOT_IN_BUILD = "Not available in this build"
NOT_ANSWERING = (
    "The server is not running or not answering: settings cannot be loaded, saved or reset until it answers again. "
    "What you typed in the form stays."
)
API_KEYS = (
    ("gemini_api_key", "Gemini"),
    ("openai_api_key", "OpenAI"),
    ("anthropic_api_key", "Anthropic"),
    ("openrouter_api_key", "OpenRouter"),
    # The local OpenAI-compatible server's key (vLLM or llama.cpp --api-key, LM Studio, a LiteLLM proxy). Not
    # "Local model server", the name of the address field: screen readers and AT-SPI clients find fields by name.
    ("local_model_api_key", "Local server"),
)
AUTH_PROVIDERS = (("anthropic", "Anthropic"), ("gemini", "Gemini"), ("openai", "OpenAI"))
LISTS = (
    ("restricted_paths", "Restricted paths", "Files and folders the agent may never touch.", "~/secret"),
    ("forbidden_commands", "Forbidden commands", "Commands the agent may never run.", "shutdown"),
    ("destructive_patterns", "Destructive patterns", "Commands that always need your confirmation.", "rm -rf"),
)
PROMPTS = (
    ("conversation_system_prompt", "Conversation prompt", "conversation"),
    ("execution_system_prompt", "Execution prompt", "execution"),
)


def _skills_list(data: Any) -> list[dict[str, Any]]:
    items = data.get("skills", []) if isinstance(data, dict) else data
    result = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            result.append({"name": item})
        elif isinstance(item, dict) and item.get("name"):
            result.append(item)
    return result


def _skill_text(data: Any) -> str:
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        for key in ("content", "skill_md", "text"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return ""


class SkillDialog(QDialog):
    """Create a skill or edit its SKILL.md; refuses to save what the server could not load."""

    def __init__(self, parent: QWidget, name: str = "", content: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Edit skill {name}" if name else "New skill")
        self.resize(640, 520)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 18, 18, 18)
        self.name = QLineEdit(name)
        self.name.setPlaceholderText("skill-name")
        self.name.setReadOnly(bool(name))
        layout.addWidget(QLabel("Name"))
        layout.addWidget(self.name)
        layout.addWidget(QLabel("SKILL.md"))
        self.text = QPlainTextEdit(content or skill_template("skill-name"))
        self.text.setFont(mono_font(10))
        layout.addWidget(self.text, 1)
        self.error = field_error()
        layout.addWidget(self.error)
        row = QHBoxLayout()
        row.addStretch(1)
        cancel = button("Cancel")
        cancel.clicked.connect(self.reject)
        save = button("Save skill", primary=True)
        save.clicked.connect(self.try_accept)
        row.addWidget(cancel)
        row.addWidget(save)
        layout.addLayout(row)
        if not name:
            self.name.textChanged.connect(self._rename_template)

    def _rename_template(self, text: str) -> None:
        if self.text.toPlainText().startswith("---\nname: "):
            body = self.text.toPlainText().split("\n", 2)
            self.text.setPlainText("\n".join([body[0], f"name: {text}", body[2] if len(body) > 2 else ""]))

    def try_accept(self) -> None:
        problem = validate_skill(self.name.text().strip(), self.text.toPlainText())
        show_error(self.error, problem or "")
        if problem is None:
            self.accept()


class SettingsPage(Page):
    def __init__(self, api: ApiClient, tasks: TaskRunner) -> None:
        super().__init__("Settings", "Everything Contop uses on this computer. Changes apply when you save.")
        self.api = api
        self.tasks = tasks
        self.snapshot: dict[str, Any] | None = None  # the server's settings the form was filled from
        self.loaded: dict[str, Any] | None = None  # the form's values right after that, to tell what the user changed
        self.server_up = False
        self._fills = 0  # counts requests that fill the form: only the answer to the latest one is shown
        self.errors: dict[str, QLabel] = {}
        self.labels: dict[str, str] = {}  # field → what the page calls it, for messages
        self.skills_available = False
        self.pins_available = False
        self.on_loaded: list[Any] = []

        self.form = self.scrolling_content(right_margin=12)

        self._build_keys()
        self._build_models()
        self._build_security()
        self._build_prompts()
        self._build_skills()
        self._build_away()
        self._build_screen()
        self.form.addStretch(1)

        bar = QHBoxLayout()
        self.message = muted("Loading settings…", wrap=True)
        bar.addWidget(self.message, 1)
        self.reset_btn = button("Reset to defaults", danger=True)
        self.reset_btn.clicked.connect(self.confirm_reset)
        self.revert_btn = button("Discard changes")
        self.revert_btn.clicked.connect(self.load)
        self.save_btn = button("Save settings", primary=True)
        self.save_btn.clicked.connect(self.save)
        for b in (self.reset_btn, self.revert_btn, self.save_btn):
            b.setEnabled(False)
            bar.addWidget(b)
        self.body.addLayout(bar)

    # --- building

    def _error_for(self, key: str) -> QLabel:
        label = field_error()
        self.errors[key] = label
        return label

    def _field(self, widget: QWidget, key: str, label: str = "") -> QWidget:
        if label:
            # Names the widget for screen readers and AT-SPI clients (the row label belongs to the holder).
            widget.setAccessibleName(label)
            self.labels[key] = label
        holder = QWidget()
        col = QVBoxLayout(holder)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(3)
        col.addWidget(widget)
        col.addWidget(self._error_for(key))
        return holder

    @staticmethod
    def _form() -> QFormLayout:
        form = QFormLayout()
        form.setHorizontalSpacing(18)
        form.setVerticalSpacing(10)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return form

    def _build_keys(self) -> None:
        card = Card("API keys", "Stored in settings.json on this computer only; never sent to the phone.")
        self.show_keys = QCheckBox("Show keys")
        self.show_keys.toggled.connect(self._toggle_keys)
        card.header.addWidget(self.show_keys, 0, Qt.AlignmentFlag.AlignTop)
        form = self._form()
        self.keys: dict[str, QLineEdit] = {}
        for key, label in API_KEYS:
            edit = QLineEdit()
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setPlaceholderText("not set")
            self.keys[key] = edit
            form.addRow(label, self._field(edit, key, f"{label} API key"))
        card.body.addLayout(form)
        self.form.addWidget(card)

    def _toggle_keys(self, shown: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        for edit in self.keys.values():
            edit.setEchoMode(mode)

    def _build_models(self) -> None:
        card = Card("Providers and model", "Per provider: an API key, or your subscription through its proxy.")
        form = self._form()
        self.auth: dict[str, ComboBox] = {}
        for provider, label in AUTH_PROVIDERS:
            combo = ComboBox()
            combo.addItem("API key", "api_key")
            combo.addItem("Subscription (CLI proxy)", "cli_proxy")
            self.auth[provider] = combo
            self.labels[f"provider_auth.{provider}.mode"] = f"{label} sign-in"
            form.addRow(label, self._field(combo, f"provider_auth.{provider}"))
        self.model = QLineEdit()
        self.model.setPlaceholderText("provider:model, e.g. anthropic:claude-sonnet-4-5 (empty: automatic)")
        self.model_row = self._field(self.model, "execution_model", "Execution model")
        form.addRow("Execution model", self.model_row)
        self.local_url = QLineEdit()
        self.local_url.setPlaceholderText("for openai-compatible:<model>, e.g. http://127.0.0.1:11434/v1 (Ollama)")
        form.addRow("Local model server", self._field(self.local_url, "local_model_base_url", "Local model server"))
        self.proxy_auto = QCheckBox("Start the subscription proxies with the app")
        form.addRow("", self._field(self.proxy_auto, "proxy_auto_start", self.proxy_auto.text()))
        self._errors_keep_provider_auth = self._error_for("provider_auth")
        form.addRow("", self._errors_keep_provider_auth)
        card.body.addLayout(form)
        self.form.addWidget(card)

    def _build_security(self) -> None:
        card = Card("Security", "What the agent may never touch or run, and what always asks you first.")
        self.lists: dict[str, ListEditor] = {}
        row = QHBoxLayout()
        row.setSpacing(16)
        for key, title, hint, placeholder in LISTS:
            col = QVBoxLayout()
            col.setSpacing(4)
            head = QLabel(f"<b>{title}</b>")
            col.addWidget(head)
            col.addWidget(muted(hint))
            editor = ListEditor(placeholder)
            self.lists[key] = editor
            self.labels[key] = title
            col.addWidget(editor)
            col.addWidget(self._error_for(key))
            row.addLayout(col, 1)
        card.body.addLayout(row)
        self.form.addWidget(card)

    def _build_prompts(self) -> None:
        card = Card("System prompts", "Optional instructions added for the agent. Empty uses the built-in prompt.")
        self.prompts: dict[str, QPlainTextEdit] = {}
        self.default_notes: dict[str, QLabel] = {}
        self.default_views: dict[str, QPlainTextEdit] = {}
        for key, title, which in PROMPTS:
            head = QHBoxLayout()
            head.addWidget(QLabel(f"<b>{title}</b>"), 1)
            view = button("View default")
            view.clicked.connect(lambda _=False, w=which: self.show_default_prompt(w))
            head.addWidget(view)
            card.body.addLayout(head)
            edit = QPlainTextEdit()
            edit.setPlaceholderText("Using the built-in prompt.")
            edit.setFixedHeight(84)
            self.prompts[key] = edit
            card.body.addWidget(self._field(edit, key, title))
            default_note = muted("")
            default_note.hide()
            self.default_notes[which] = default_note
            card.body.addWidget(default_note)
            default_view = QPlainTextEdit()
            default_view.setReadOnly(True)
            default_view.setFixedHeight(150)
            default_view.setStyleSheet("background:#f4f5f9; color:#3b4254;")
            default_view.hide()
            self.default_views[which] = default_view
            card.body.addWidget(default_view)
        self.form.addWidget(card)

    def _build_skills(self) -> None:
        card = Card("Skills", "Extra know-how the agent can load: enable, disable, create and edit SKILL.md.")
        self.skills_note = note("Checking the skills engine…")
        card.body.addWidget(self.skills_note)
        self.skills = QListWidget()
        self.skills.setMaximumHeight(170)
        self.skills.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.skills.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.skills.itemChanged.connect(self._skill_toggled)
        card.body.addWidget(self.skills)
        row = QHBoxLayout()
        self.new_skill = button("New skill")
        self.new_skill.clicked.connect(lambda: self.edit_skill(None))
        self.edit_skill_btn = button("Edit SKILL.md")
        self.edit_skill_btn.clicked.connect(self._edit_selected)
        row.addWidget(self.new_skill)
        row.addWidget(self.edit_skill_btn)
        row.addStretch(1)
        card.body.addLayout(row)
        self._set_skills_enabled(False)
        self.form.addWidget(card)

    def _build_away(self) -> None:
        card = Card("Away Mode and power", "Lock this computer's screen while you drive it from your phone.")
        self.pins_note = note("Checking whether this build can set Away Mode PINs…")
        card.body.addWidget(self.pins_note)
        form = self._form()
        self.pin = QLineEdit()
        self.emergency = QLineEdit()
        emergency_hint = "optional: 6 to 12 digits, different from the PIN (empty: unchanged)"
        for edit, hint in ((self.pin, "4 to 12 digits"), (self.emergency, emergency_hint)):
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setPlaceholderText(hint)
            edit.setMaxLength(12)
        form.addRow("PIN", self._field(self.pin, "pin"))
        form.addRow("Emergency PIN", self._field(self.emergency, "emergency_pin"))
        self.remove_emergency = QCheckBox("Remove the emergency PIN")
        self.remove_emergency.toggled.connect(self._removing_emergency)
        form.addRow("", self.remove_emergency)
        self.set_pins = button("Set PINs")
        self.set_pins.clicked.connect(self.save_pins)
        pins_row = QHBoxLayout()
        pins_row.addWidget(self.set_pins)
        pins_row.addStretch(1)
        form.addRow("", pins_row)
        self.auto_engage = NumberField(1, 24 * 60, 5, "minutes")
        self._add_short_field(
            form, "Auto-engage after", "away_mode.auto_engage_minutes", self.auto_engage,
            "minutes without activity on this computer", accessible="Auto-engage after (minutes)",
        )  # fmt: skip
        self.idle = QCheckBox("Engage when this computer is idle")
        form.addRow("", self._field(self.idle, "away_mode.idle_timeout_enabled", self.idle.text()))
        self.keep_awake = QCheckBox("Keep this computer awake while Contop runs")
        form.addRow("Power", self._field(self.keep_awake, "keep_host_awake", self.keep_awake.text()))
        card.body.addLayout(form)
        self._set_pins_enabled(False)
        self.form.addWidget(card)

    def _add_short_field(
        self, form: QFormLayout, label: str, key: str, editor: QWidget, unit: str, *, accessible: str = ""
    ) -> None:
        """A narrow editor with its unit written after it, as one row of ``form`` for the setting ``key``."""
        editor.setFixedWidth(90)
        editor.setAccessibleName(accessible or label)
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(editor)
        row.addWidget(muted(unit, wrap=False), 1)
        self.labels[key] = label
        form.addRow(label, self._field(holder, key))

    def _build_screen(self) -> None:
        card = Card("Live screen and connection", "What phones see of this screen, and how they reach it.")
        form = self._form()
        # The form leaves the ranges to the server (160 to 7680 pixels): its message appears under the field.
        self.video_width = NumberField(160, 7680, 1280, "pixels")
        self._add_short_field(
            form, "Video width", "video_width", self.video_width, "pixels wide; the height keeps the screen's shape"
        )
        # A line edit, not a spin box: scrolling the page over a spin box would change the value.
        self.video_fps = QLineEdit()
        fps_validator = QDoubleValidator(0.0, 999.0, 2, self.video_fps)
        fps_validator.setLocale(QLocale.c())  # "12.5" as in settings.json, whatever this computer's locale
        self.video_fps.setValidator(fps_validator)
        self._add_short_field(form, "Frame rate", "video_fps", self.video_fps, "frames per second, up to 60")
        self.ice = QPlainTextEdit()
        self.ice.setFont(mono_font(10))
        self.ice.setFixedHeight(96)
        self.ice.setPlaceholderText(
            "Empty: phones on your network or Tailscale only. A JSON list, e.g.\n"
            '[{"urls": "stun:stun.l.google.com:19302"}]'
        )
        form.addRow("STUN/TURN servers", self._field(self.ice, "ice_servers", "STUN/TURN servers"))
        card.body.addLayout(form)
        card.body.addWidget(muted("TURN credentials travel to the phone in the pairing QR code."))
        self.form.addWidget(card)

    # --- loading

    def server_ready(self) -> None:
        self.server_up = True
        self._enable_form_buttons()
        self.refresh()
        self.probe_features()

    def server_gone(self) -> None:
        """What needs the server waits for it, and the footer says why (not "Settings loaded", which no longer
        tells whether the form is the server's)."""
        self.server_up = False
        self._enable_form_buttons()
        self._set_skills_enabled(False)
        self._set_pins_enabled(False)
        self.message.setText(NOT_ANSWERING)

    def _enable_form_buttons(self) -> None:
        for b in (self.reset_btn, self.revert_btn, self.save_btn):
            b.setEnabled(self.server_up and self.loaded is not None)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.server_up:
            self.refresh()

    def dirty(self) -> bool:
        """Whether the form holds changes the user has not saved."""
        return self.loaded is not None and bool(changed_fields(self.loaded, self.edits()))

    def load(self) -> None:
        """Fill the form from the server, dropping unsaved changes ("Discard changes")."""
        self._fetch(force=True)

    def refresh(self) -> None:
        """Fill the form from the server unless it holds unsaved changes, which stay (a save sends only them)."""
        if self.dirty():
            self.message.setText("Unsaved changes. Saving sends only the fields you changed.")
            return
        self._fetch(force=False)

    def _fetch(self, *, force: bool, message: str = "Settings loaded from the server.") -> None:
        self._fills += 1
        ticket = self._fills

        def got(data: dict[str, Any]) -> None:
            # An older answer than a later load or save is stale; and the user may have started typing meanwhile.
            if ticket == self._fills and (force or not self.dirty()):
                self.show_settings(data, message)

        self.tasks.run(self.api.get_settings, got, self._load_failed)

    def _load_failed(self, exc: BaseException) -> None:
        self.message.setText(f"Could not load settings: {exc}")

    def show_settings(self, data: dict[str, Any], message: str = "Settings loaded from the server.") -> None:
        self.snapshot = data
        for key, edit in self.keys.items():
            edit.setText(str(data.get(key) or ""))
        auth = data.get("provider_auth") or {}
        for provider, combo in self.auth.items():
            mode = (auth.get(provider) or {}).get("mode", "api_key")
            combo.setCurrentIndex(max(0, combo.findData(mode)))
        self.model_row.setVisible("execution_model" in data)
        self.model.setText(str(data.get("execution_model") or ""))
        self.local_url.setText(str(data.get("local_model_base_url") or ""))
        self.proxy_auto.setChecked(bool(data.get("proxy_auto_start")))
        for key, editor in self.lists.items():
            editor.set_values([str(v) for v in data.get(key) or []])
        for key, prompt in self.prompts.items():
            prompt.setPlainText(str(data.get(key) or ""))
        away = data.get("away_mode") or {}
        self.auto_engage.setValue(int(away.get("auto_engage_minutes") or 5))
        self.idle.setChecked(bool(away.get("idle_timeout_enabled", True)))
        self.keep_awake.setChecked(bool(data.get("keep_host_awake")))
        self.video_width.setValue(int(data.get("video_width") or 1280))
        self.video_fps.setText(f"{float(data.get('video_fps') or 30.0):g}")
        ice = data.get("ice_servers") or []
        self.ice.setPlainText(json.dumps(ice, indent=2) if ice else "")
        self.loaded = self.edits()
        self.clear_errors()
        self._enable_form_buttons()
        # An answer that arrives after the server stopped answering is shown, but the footer keeps saying so.
        self.message.setText(message if self.server_up else f"{message} {NOT_ANSWERING}")
        for callback in self.on_loaded:
            callback(data)

    def clear_errors(self) -> None:
        for label in self.errors.values():
            show_error(label, "")

    # --- saving

    def edits(self) -> dict[str, Any]:
        """Every field of the form, by dotted settings key (the frame rate and ICE servers as their text)."""
        snapshot = self.snapshot or {}
        edits: dict[str, Any] = {key: edit.text().strip() for key, edit in self.keys.items()}
        for provider, combo in self.auth.items():
            edits[f"provider_auth.{provider}.mode"] = combo.currentData()
        if "execution_model" in snapshot:
            edits["execution_model"] = self.model.text().strip()
        edits["local_model_base_url"] = self.local_url.text().strip()
        edits["proxy_auto_start"] = self.proxy_auto.isChecked()
        for key, editor in self.lists.items():
            edits[key] = editor.values()
        for key, prompt in self.prompts.items():
            edits[key] = prompt.toPlainText()
        edits["away_mode.auto_engage_minutes"] = self.auto_engage.value()
        edits["away_mode.idle_timeout_enabled"] = self.idle.isChecked()
        edits["keep_host_awake"] = self.keep_awake.isChecked()
        edits["video_width"] = self.video_width.value()
        edits["video_fps"] = self.video_fps.text().strip()
        edits["ice_servers"] = self.ice.toPlainText()
        return edits

    def save(self) -> None:
        if self.snapshot is None or self.loaded is None:
            return
        self.clear_errors()
        if [key for key, editor in self.lists.items() if editor.validate()]:
            self.message.setText("Fix the highlighted lists before saving.")
            return
        changes, problems = typed_changes(changed_fields(self.loaded, self.edits()))
        # An empty or out-of-range number has no value: say so at its field, rather than let the server refuse a
        # null with its own wording.
        numbers = {"away_mode.auto_engage_minutes": self.auto_engage, "video_width": self.video_width}
        problems.update({key: text for key, field in numbers.items() if (text := field.problem())})
        if problems:
            for key, text in problems.items():
                show_error(self.errors[key], text)
            self.message.setText("Fix the highlighted fields before saving.")
            return
        if not changes:
            self._fetch(
                force=True, message="Nothing to save: no field was changed. The form shows the server's settings."
            )
            return
        loaded = self.snapshot
        self._fills += 1  # a load still running would show the settings from before this save
        self.save_btn.setEnabled(False)
        self.message.setText("Saving…")
        # The PUT starts from the server's current object, not the one loaded earlier, and sets only what the user
        # changed: edits by hand, a reset, skill toggles and PIN changes made meanwhile survive, as do keys this
        # form does not know.
        self.tasks.run(
            self.api.get_settings, lambda current: self._save_over(loaded, current, changes), self._save_failed
        )

    def _save_over(self, loaded: dict[str, Any], current: dict[str, Any], changes: dict[str, Any]) -> None:
        conflicts = conflicting_fields(loaded, current, changes)
        if conflicts and not self._overwrite_confirmed(conflicts):
            self.save_btn.setEnabled(self.server_up)
            self.message.setText(
                "Not saved. Discard changes to see the current settings, or save again to replace them."
            )
            self.snapshot = current  # asked once: a second save replaces them without asking again
            return
        self.tasks.run(lambda: self.api.put_settings(merged_settings(current, changes)), self._saved, self._save_failed)

    def _overwrite_confirmed(self, conflicts: list[str]) -> bool:
        # Names only: values may be API keys. A key without a label comes from the file: shown escaped.
        names = ", ".join(self.labels.get(key) or in_sentence(key) for key in conflicts)
        answer = QMessageBox.question(
            self,
            "Settings changed elsewhere",
            rich_safe(
                f"Since this page was loaded, these settings were changed elsewhere (in settings.json, by a reset or "
                f"by another app): {names}.\n\nReplace them with the values in this form?"
            ),
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Save

    def _saved(self, data: dict[str, Any]) -> None:
        self.show_settings(data, "Saved. The server uses the new settings now.")

    def _save_failed(self, exc: BaseException) -> None:
        self.save_btn.setEnabled(self.server_up)
        if isinstance(exc, ApiError) and exc.status == 422:
            by_field, rest = field_errors(exc.detail, self.errors)
            for key, text in by_field.items():
                show_error(self.errors[key], text)
            named = ", ".join(by_field)
            self.message.setText(
                "The server refused these settings" + (f" ({named})" if named else "") + (f": {rest}" if rest else ".")
            )
            return
        self.message.setText(f"Could not save: {exc}")

    def confirm_reset(self) -> None:
        answer = QMessageBox.question(
            self,
            "Reset settings",
            "Reset every setting to its default? API keys, prompts and security lists are replaced.",
            QMessageBox.StandardButton.Reset | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Reset:
            self._fills += 1
            self.tasks.run(self.api.reset_settings, self._saved, self._save_failed)

    # --- features that may not be in this build

    def probe_features(self) -> None:
        self.tasks.run(self.api.skills, self._skills_loaded, self._skills_failed)
        self.tasks.run(self.api.away_mode_available, self._pins_probed, lambda _e: self._pins_probed(False))

    def _set_skills_enabled(self, enabled: bool) -> None:
        for w in (self.skills, self.new_skill, self.edit_skill_btn):
            w.setEnabled(enabled)

    def _skills_loaded(self, data: Any) -> None:
        self.skills_available = True
        self.skills_note.hide()
        self._set_skills_enabled(True)
        self.skills.blockSignals(True)
        self.skills.clear()
        for skill in _skills_list(data):
            item = QListWidgetItem(
                f"{skill['name']}" + (f" — {skill['description']}" if skill.get("description") else "")
            )
            item.setData(Qt.ItemDataRole.UserRole, skill["name"])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if skill.get("enabled", True) else Qt.CheckState.Unchecked)
            self.skills.addItem(item)
        self.skills.blockSignals(False)

    def _skills_failed(self, exc: BaseException) -> None:
        self.skills_available = False
        self._set_skills_enabled(False)
        if isinstance(exc, NotAvailable):
            self.skills_note.setText(f"{NOT_IN_BUILD}: the skills engine has not landed yet.")
        else:
            self.skills_note.setText(f"Could not read skills: {exc}")
        self.skills_note.show()

    def _skill_toggled(self, item: QListWidgetItem) -> None:
        name = str(item.data(Qt.ItemDataRole.UserRole))
        enabled = item.checkState() == Qt.CheckState.Checked

        def refused(exc: BaseException) -> None:
            self._skill_error(exc)
            self.probe_features()  # show the server's truth again

        self.tasks.run(lambda: self.api.set_skill_enabled(name, enabled), None, refused)

    def _edit_selected(self) -> None:
        item = self.skills.currentItem()
        if item is not None:
            self.edit_skill(str(item.data(Qt.ItemDataRole.UserRole)))

    def edit_skill(self, name: str | None) -> None:
        if name is None:
            self._open_skill_dialog("", "")
            return
        self.tasks.run(
            lambda: self.api.skill(name), lambda d: self._open_skill_dialog(name, _skill_text(d)), self._skills_failed
        )

    def _open_skill_dialog(self, name: str, content: str) -> None:
        dialog = SkillDialog(self, name, content)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        new_name, text = dialog.name.text().strip(), dialog.text.toPlainText()
        creating = not name

        def work() -> None:
            if creating:
                self.api.create_skill(new_name, front_matter(text).get("description", ""))
            self.api.save_skill(new_name, text)

        def done(_r: object) -> None:
            self.message.setText(f"Skill {new_name} saved.")
            self.probe_features()

        self.tasks.run(work, done, self._skill_error)

    def _skill_error(self, exc: BaseException) -> None:
        detail = exc.detail if isinstance(exc, ApiError) else str(exc)
        self.message.setText(f"Skill not saved: {detail}")
        if isinstance(exc, NotAvailable):
            self._skills_failed(exc)

    def show_default_prompt(self, which: str) -> None:
        label = self.default_notes[which]

        def shown(data: dict[str, Any]) -> None:
            text = str(data.get(which) or "")
            label.setText(f"Built-in {which} prompt (read only); yours is added after it:")
            label.show()
            view = self.default_views[which]
            view.setPlainText(text or "(empty)")
            view.show()

        def failed(exc: BaseException) -> None:
            label.setText(
                f"{NOT_IN_BUILD}: the built-in prompts arrive with the agent."
                if isinstance(exc, NotAvailable)
                else f"Could not read the default prompt: {exc}"
            )
            label.show()

        self.tasks.run(self.api.default_prompts, shown, failed)

    def _set_pins_enabled(self, enabled: bool) -> None:
        for w in (self.pin, self.remove_emergency, self.set_pins):
            w.setEnabled(enabled)
        self.emergency.setEnabled(enabled and not self.remove_emergency.isChecked())

    def _removing_emergency(self, removing: bool) -> None:
        if removing:
            self.emergency.clear()
        self.emergency.setEnabled(self.pins_available and not removing)

    def _pins_probed(self, exists: bool) -> None:
        self.pins_available = bool(exists)
        self._set_pins_enabled(self.pins_available)
        if self.pins_available:
            self.pins_note.hide()
        else:
            self.pins_note.setText(
                f"{NOT_IN_BUILD}: setting Away Mode PINs needs the Away Mode service, which has not landed yet. "
                "The timing options below are saved with your settings."
            )
            self.pins_note.show()

    def save_pins(self) -> None:
        pin, removing = self.pin.text(), self.remove_emergency.isChecked()
        emergency = "" if removing else self.emergency.text()
        problems = validate_pins(pin, emergency)
        show_error(self.errors["pin"], problems.get("pin", ""))
        show_error(self.errors["emergency_pin"], problems.get("emergency_pin", ""))
        if problems:
            self.message.setText("Away Mode PINs not set: fix the highlighted fields.")
            return
        # The server keeps the emergency PIN it has when none is sent, and removes it when "" is sent.
        sent = "" if removing else emergency or None
        if removing:
            outcome = "Away Mode PIN set; the emergency PIN is removed."
        elif emergency:
            outcome = "Away Mode PINs set."
        else:
            outcome = "Away Mode PIN set; the emergency PIN is unchanged."

        def done(_r: object) -> None:
            self.pin.clear()
            self.emergency.clear()
            self.remove_emergency.setChecked(False)
            self.message.setText(outcome)

        def failed(exc: BaseException) -> None:
            detail = exc.detail if isinstance(exc, ApiError) else str(exc)
            self.message.setText(f"Could not set the PINs: {detail}")

        self.tasks.run(lambda: self.api.set_away_pins(pin, sent), done, failed)
