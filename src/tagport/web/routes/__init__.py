"""The console's pages, one module per noun (as `tagport.api.routes`)."""
