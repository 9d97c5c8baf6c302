"""Who may do what: principals, roles and the permission every HTTP view declares."""
