"""The application layer: one module per use case, from targets to typed results. The CLI parses
options, calls a use case and renders what it returns; it decides nothing about hosts or results."""
