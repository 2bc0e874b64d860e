"""One module per tab. Each has ``build(...) -> gr.Blocks`` taking its backends as
arguments, and module-level functions holding the logic that tests call directly.
Tabs never read environment variables and never import a concrete backend."""
