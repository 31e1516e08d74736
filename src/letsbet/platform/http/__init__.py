"""HTTP edge: error rendering, middleware, dependencies, rate limits."""
