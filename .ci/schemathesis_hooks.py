"""What schemathesis cannot read from openapi.yaml: a `format: phone` value is a number valid for
its country, which no pattern can say. Generated phones are valid North American numbers, in
the notations people write them in."""
import schemathesis
from hypothesis import strategies as st

schemathesis.openapi.format(
    "phone",
    st.from_regex(
        r"\A(\+1415555[0-9]{4}|\(415\) 555-[0-9]{4}|415\.555\.[0-9]{4}|\+1 415 555 [0-9]{4})\Z",
        fullmatch=True,
    ),
)
