"""Dynamic admission: the ``MutatingWebhooks`` and ``ValidatingWebhooks``
plugins that send an ``admission.k8s.io/v1`` AdmissionReview over HTTPS to
the webhooks registered in MutatingWebhookConfigurations and
ValidatingWebhookConfigurations, as kube-apiserver's
``MutatingAdmissionWebhook`` and ``ValidatingAdmissionWebhook`` do.

Modules: ``hooks`` (configurations → sorted webhook records, cached per
resourceVersion), ``matching`` (rules, scope, namespace and object selectors,
exemptions: pure), ``review`` (the AdmissionReview sent, the response checked,
upstream's error statuses: pure), ``client`` (the HTTPS call: aiohttp, one
session per plugin, TLS trust from ``caBundle``), ``mutating`` and
``validating`` (the plugins). Concurrency: everything runs on the API
server's event loop; mutating webhooks are called one after another (each
sees the previous one's patch), validating webhooks all at once.
"""

from pinnace.apiserver.admission.webhook.client import EndpointsResolver, WebhookClient
from pinnace.apiserver.admission.webhook.mutating import MutatingWebhooks
from pinnace.apiserver.admission.webhook.validating import ValidatingWebhooks

__all__ = ["EndpointsResolver", "MutatingWebhooks", "ValidatingWebhooks", "WebhookClient"]
