"""Hypothesis strategies for malformed commands and queries, shared by the bad-input tests.

Wrong types, missing and extra fields, huge strings and numbers, unknown types, text that is not
valid UTF-8 (lone surrogates) and bytes, and values nested hundreds of levels deep.
"""

import functools

from hypothesis import strategies as st

HUGE_TEXT = "x" * 70_000           # over the default max_command_bytes (64 KiB)
NOT_UTF8 = "caf\udce9"             # a lone surrogate: what decoding Latin-1 bytes as UTF-8 leaves


def nested(depth: int):
    return functools.reduce(lambda inner, _: [inner], range(depth), 0)


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=12), st.binary(max_size=12), st.sampled_from([HUGE_TEXT, NOT_UTF8, "", 10**40, -1]),
)
values = st.one_of(
    st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(max_size=6), inner, max_size=3), max_leaves=8),
    st.integers(100, 400).map(nested),
)
command_types = st.sampled_from(["OpenAccount", "Deposit", "Withdraw"])
type_names = st.one_of(command_types, st.text(max_size=20), st.sampled_from(["", NOT_UTF8, "Deposit\x00"]),
                       st.integers(), st.none(), st.binary(max_size=8))
command_fields = st.one_of(
    st.fixed_dictionaries({"account_id": values, "amount": values}),                 # wrong types
    st.fixed_dictionaries({"account_id": values, "owner": values}),
    st.dictionaries(st.text(max_size=10), values, max_size=4),                       # missing, extra
    st.fixed_dictionaries({"account_id": st.just("a"), "amount": st.just(5), "surplus": values}),
    values,                                                                          # not a mapping
)
command_ids = st.one_of(st.text(min_size=1, max_size=30), st.sampled_from(["", NOT_UTF8, "a\x00b", "x" * 300]),
                        st.integers(), st.none())
wire_items = st.one_of(
    st.tuples(type_names, command_fields, command_ids),
    st.lists(values, max_size=4), values,
)
query_types = st.one_of(st.sampled_from(["GetBalance", "GetAuditTrail", "GetTotalBalance"]), type_names)
