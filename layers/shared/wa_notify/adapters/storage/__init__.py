"""The table's repositories, one per aggregate, over one key module (`keys`).

Nothing is imported here: `keys` stays importable without boto3. `wa_notify.adapters.store.Store`
holds one of each repository; callers reach them as `deps.store.<repository>.<method>`.
"""
