"""The response cache's key (API.md "Caching and persisted queries"): pure, no I/O.

An anonymous catalog-only query's answer is the same for everyone until the catalog changes,
so it is keyed on what determines it: the normalised document (printed from its AST, so
spacing and comments do not matter), the operation name, the variables (canonical JSON), the
catalog version (bumped by every product or offer upsert and every stock move) and a
namespace (the schema and the settings that shape answers, so a deploy never reads the
previous version's entries).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# what GET answers to cacheable anonymous catalog queries may be cached for by a browser or
# CloudFront; everything else must not be stored anywhere
PUBLIC_CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=30"
PRIVATE_CACHE_CONTROL = "private, no-store"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def response_key(
    *,
    namespace: str,
    document: str,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    catalog_version: int,
) -> str:
    material = canonical_json(
        [namespace, catalog_version, document, operation_name, dict(variables or {})]
    )
    return hashlib.sha256(material.encode()).hexdigest()
