"""The one entry point to the table: a repository per aggregate, over one key module.

Callers reach storage as `deps.store.<repository>.<method>` (e.g. `deps.store.messages.get`,
`deps.store.leases.take`). Every key is built in `adapters/storage/keys.py` (its docstring and
docs/key-schema.md list every item type); every state change is a conditional write.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wa_notify.adapters.dynamo import Table
from wa_notify.adapters.storage.analytics import AnalyticsRepository
from wa_notify.adapters.storage.buckets import BucketRepository
from wa_notify.adapters.storage.campaigns import CampaignRepository
from wa_notify.adapters.storage.clicks import ClickRepository
from wa_notify.adapters.storage.contacts import ContactRepository
from wa_notify.adapters.storage.dispatch import DispatchRepository
from wa_notify.adapters.storage.erasure import ErasureRepository
from wa_notify.adapters.storage.fallback import FallbackRepository
from wa_notify.adapters.storage.flows import FlowRepository
from wa_notify.adapters.storage.leases import LeaseRepository
from wa_notify.adapters.storage.messages import MessageRepository
from wa_notify.adapters.storage.numbers import NumberRepository
from wa_notify.adapters.storage.quota import QuotaRepository
from wa_notify.adapters.storage.templates import TemplateRepository
from wa_notify.adapters.storage.tenants import TenantRepository


@dataclass
class Store:
    table: Table
    due_shards: int = 4
    tenants: TenantRepository = field(init=False)
    templates: TemplateRepository = field(init=False)
    contacts: ContactRepository = field(init=False)
    flows: FlowRepository = field(init=False)
    quota: QuotaRepository = field(init=False)
    messages: MessageRepository = field(init=False)
    leases: LeaseRepository = field(init=False)
    dispatch: DispatchRepository = field(init=False)
    fallback: FallbackRepository = field(init=False)
    campaigns: CampaignRepository = field(init=False)
    analytics: AnalyticsRepository = field(init=False)
    buckets: BucketRepository = field(init=False)
    numbers: NumberRepository = field(init=False)
    clicks: ClickRepository = field(init=False)
    erasure: ErasureRepository = field(init=False)

    def __post_init__(self) -> None:
        t = self.table
        self.tenants = TenantRepository(t)
        self.templates = TemplateRepository(t)
        self.contacts = ContactRepository(t)
        self.quota = QuotaRepository(t)
        self.messages = MessageRepository(t, self.quota, self.due_shards)
        self.flows = FlowRepository(t, self.messages, self.quota)
        self.leases = LeaseRepository(t, self.due_shards)
        self.dispatch = DispatchRepository(t)
        self.fallback = FallbackRepository(t, self.due_shards)
        self.campaigns = CampaignRepository(t, self.messages, self.quota)
        self.analytics = AnalyticsRepository(t)
        self.buckets = BucketRepository(t)
        self.numbers = NumberRepository(t)
        self.clicks = ClickRepository(t)
        self.erasure = ErasureRepository(t)
