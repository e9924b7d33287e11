"""Label schema and guidelines as code: the YAML file model, its validation and versions.

A project's schema file says what annotators label and how::

    name: sms-spam
    version: "1.2"                  # human version string (required)
    task: single_label              # single_label | multi_label
    description: Spam filter for inbound SMS.      # optional
    inputs:                         # item fields annotators see; import checks rows against them
      - name: text
        type: text                  # text | number | boolean | url | image_url | json
        required: true              # default true
        description: The message body.             # optional
    labels:                         # file order is the label space order (codes, UI order)
      - name: spam
        description: Unsolicited commercial or fraudulent message.
      - name: ham
        description: Anything else.
    instructions: |                 # optional Markdown shown to annotators
      Label the message, not the sender.
    examples:                       # worked examples -> gold items marked as calibration material
      - id: prize-bait              # optional stable id (default: hash of the input)
        input: {text: "WIN a FREE iPhone, reply YES"}
        label: spam                 # multi_label: `labels: [a, b]`
        rationale: Prize bait asking for a reply.
        edge_case: false            # default false

``multi_label`` schemas also take ``min_labels`` (default 0: "none apply" is an answer) and
``max_labels`` (default: no limit). Other task types (``spans``, ``rating``, ``pairwise``,
``ranking``, ``step_labels``) are reserved: a file naming one gets a clear "not supported yet"
problem. Each task type is one module of this package (``single_label``, ``multi_label``): its
:class:`Schema` subclass, its label codec (the label as users write it <-> the core's arrays)
and the core kernels it uses (:attr:`Schema.kernels`: aggregation, agreement, training target).
:data:`TASKS` (module ``tasks``) maps ``task`` values to them, so adding one is adding a
module and a line there. ``_base`` holds what they share, ``files`` the YAML reading.

YAML is read with YAML 1.2 core scalars: only ``true``/``false`` are booleans (``yes``, ``no``,
``on``, ``off`` stay strings, so a label called ``no`` is the string "no"), there are no
timestamps, ``012`` is the integer 12 and ``12:30`` is a string. A numeric ``version: 1.10``
is kept as the text "1.10". Duplicate keys in one mapping are reported, not silently merged.

Versions and hashes
-------------------
:attr:`Schema.content_hash` is the SHA-256 of the canonical JSON (sorted keys, no whitespace)
of :meth:`Schema.to_dict`: the *normalized model*, not the file text. Comments, key order,
quoting, flow vs block style, ``|`` vs ``|-`` and surrounding whitespace of texts, and keys
written out with their default value (``required: true``) never change the hash; any change
of meaning (a description, the label order, an example, the version string) does. Keys at
their default are left out of :meth:`~Schema.to_dict`, so an optional key added by a later
labelloop release leaves existing hashes unchanged. The store keeps one schema version per
distinct hash; every label records the hash (and the human ``version``) it was made under.

Projects without a file get an *open* schema (:func:`open_schema`): single-label, label set
inferred from imported answers and gold, ``is_open=True``. Extending the set gives a new hash.
"""

from __future__ import annotations

from labelloop.schema._base import (
    GoldExample,
    InputField,
    LabelDef,
    Problem,
    Schema,
    TaskKernels,
)
from labelloop.schema.files import (
    load_schema,
    parse_schema_text,
    schema_from_dict,
    validate_schema_text,
)
from labelloop.schema.multi_label import MultiLabelExample, MultiLabelSchema
from labelloop.schema.single_label import SingleLabelExample, SingleLabelSchema, open_schema
from labelloop.schema.tasks import RESERVED_TASKS, TASKS

__all__ = [
    "RESERVED_TASKS",
    "TASKS",
    "GoldExample",
    "InputField",
    "LabelDef",
    "MultiLabelExample",
    "MultiLabelSchema",
    "Problem",
    "Schema",
    "SingleLabelExample",
    "SingleLabelSchema",
    "TaskKernels",
    "load_schema",
    "open_schema",
    "parse_schema_text",
    "schema_from_dict",
    "validate_schema_text",
]
