import warnings

# Starlette's test client asks for the httpx2 package; it works over httpx, which the clients
# under test are typed against, so its import-time notice is not an error here.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    import starlette.testclient  # noqa: F401
