"""Settings: defaults < TOML file < ``CONSCIOUS_*`` environment < command-line flags
(``settings.py``), and the sections they are made of (``sections.py``)."""

from conscious.config.sections import (
    REPORT_GLOBS,
    AgentBudget,
    ApprovalConfig,
    CandidatePattern,
    ClaudeCodeConfig,
    ClaudeFlowConfig,
    ClusterConfig,
    DecideMode,
    PermissionMode,
    Profile,
    SandboxConfig,
    SavedPattern,
    SchemaDialect,
    ToolGateConfig,
    WorkspaceMode,
)
from conscious.config.settings import SHORTCUTS, Config, save_pattern

__all__ = [
    "REPORT_GLOBS",
    "SHORTCUTS",
    "AgentBudget",
    "ApprovalConfig",
    "CandidatePattern",
    "ClaudeCodeConfig",
    "ClaudeFlowConfig",
    "ClusterConfig",
    "Config",
    "DecideMode",
    "PermissionMode",
    "Profile",
    "SandboxConfig",
    "SavedPattern",
    "SchemaDialect",
    "ToolGateConfig",
    "WorkspaceMode",
    "save_pattern",
]
