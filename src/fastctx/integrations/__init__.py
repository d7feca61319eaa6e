"""Optional integrations with other libraries, each imported only when used (``fastctx.integrations.dask``)."""
