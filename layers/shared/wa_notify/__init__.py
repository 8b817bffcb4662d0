"""wa-notify: the shared package every Lambda imports (built by SAM as one layer)."""
