"""The skills engine: SKILL.md discovery and validation, workflows, python skill tools, the skill tools."""
