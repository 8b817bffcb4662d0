"""Adapters: the only place boto3 and httpx are used."""
