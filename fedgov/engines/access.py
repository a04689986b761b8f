"""An analyst's side of access control: the signed request a job or query carries.

The departments admit a training job or a query only with a request its
analyst signed (:mod:`department_nodes.access`), covering exactly what they
will compute: :func:`sign_job` and :func:`sign_query` make it from the job
or query itself (the same :class:`~department_nodes.access.Subject` the
departments derive), so the analyst signs what the departments check::

    job = sign_job(job, analyst, roles.access_domain)        # job.access_request set
    query_request = sign_query(query, analyst, domain, purpose="cost model")

Requests are valid from now for ``valid_s`` seconds (a day by default): a
department refuses a round or query that arrives after that.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from typing import TYPE_CHECKING, Final

from department_nodes.access import Subject
from fedgov.access import AccessRequest
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob
from ledger.access import SignedRequest

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from ledger.access import AccessDomain
    from privacy.mechanisms import Query

__all__ = ["DEFAULT_VALIDITY_S", "sign_job", "sign_query", "signed_request"]

DEFAULT_VALIDITY_S: Final = 86_400


def signed_request(
    subject: Subject,
    analyst: LocalAccount,
    domain: AccessDomain,
    *,
    valid_s: int = DEFAULT_VALIDITY_S,
    now: int | None = None,
) -> str:
    """``analyst``'s signed request for ``subject``, as compact JSON."""
    if valid_s < 1:
        raise ConfigurationError("valid_s", f"must be at least 1 second, got {valid_s}")
    issued = int(time.time()) if now is None else now
    request = AccessRequest(
        analyst=analyst.address,
        purpose=subject.purpose,
        kind=subject.kind,
        subject=subject.digest,
        dataset=subject.dataset,
        columns=subject.columns,
        epsilon=subject.epsilon,
        delta=subject.delta,
        nonce=secrets.token_bytes(32),
        issued_at=issued,
        expires_at=issued + valid_s,
    )
    return SignedRequest.sign(request, analyst, domain).to_text(domain)


def sign_job(
    job: TrainJob,
    analyst: LocalAccount,
    domain: AccessDomain,
    *,
    valid_s: int = DEFAULT_VALIDITY_S,
) -> TrainJob:
    """``job`` carrying ``analyst``'s signed request for it."""
    signed = signed_request(Subject.training(job), analyst, domain, valid_s=valid_s)
    return dataclasses.replace(job, access_request=signed)


def sign_query(
    query: Query,
    analyst: LocalAccount,
    domain: AccessDomain,
    *,
    purpose: str,
    valid_s: int = DEFAULT_VALIDITY_S,
) -> str:
    """``analyst``'s signed request for ``query``, asked for ``purpose``."""
    job = TrainJob(job_id=query.query_id, dataset=query.dataset, purpose=purpose)
    return signed_request(Subject.query(query, job), analyst, domain, valid_s=valid_s)
