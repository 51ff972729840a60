"""The API's routers, one per resource; ``app.py`` includes them all."""
