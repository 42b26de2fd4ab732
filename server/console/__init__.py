"""The web console: server-rendered pages for staff (docs/console.md)."""
