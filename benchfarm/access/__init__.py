"""Who may do what on the farm's API: tokens per user or team with a role, and the audit trail."""
