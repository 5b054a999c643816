"""The benchmark's fixed prompts: short code requests, notebook contexts, edit requests.

Fixed text (no randomness) so that every run, every path and every round reads the same
tokens. Contexts are built from cell templates and cut to a token budget with the model's
own tokenizer, so "~1,500 tokens of context" means exactly that for this model.
"""

from __future__ import annotations

from collections.abc import Callable

SHORT_REQUESTS = (
    "Write a Python function that parses ISO 8601 date strings into datetime objects, "
    "with error handling and a docstring.",
    "Write a function that reads a CSV file and returns the average of every numeric "
    "column, without pandas. Include a usage example.",
    "Write a Python class implementing an LRU cache with get and put methods and a "
    "maximum size, plus a few asserts that test it.",
)

# Questions asked after a shared context: different endings, same (long) beginning.
CONTEXT_QUESTIONS = (
    "Write a function that plots the monthly totals from the data above as a bar chart.",
    "Write a function that finds the three customers with the highest average order.",
    "Add a function that exports the cleaned data to a Parquet file with a timestamp.",
    "Write a unit test for the cleaning function above.",
)

# New short requests for a warm cell after the shared context (the deterministic section). They
# begin unlike CONTEXT_QUESTIONS[0], the cell asked before each, so only the request is new.
WARM_REQUESTS = (
    "Add a docstring to clean_orders_1.",
    "Which column holds the order amounts?",
    "Rename monthly_1 to monthly_totals.",
)

_ANALYSIS_CELLS = (
    "import pandas as pd\nimport numpy as np\nfrom pathlib import Path\n\n"
    "DATA_DIR = Path('data/{n}')\nraw_{n} = pd.read_csv(DATA_DIR / 'orders_{n}.csv', "
    "parse_dates=['created_at'])\nraw_{n}.head()",
    "def clean_orders_{n}(frame):\n    frame = frame.dropna(subset=['customer', 'amount'])\n"
    "    frame = frame[frame['amount'] > 0].copy()\n    frame['customer'] = "
    "frame['customer'].str.strip().str.lower()\n    frame['month'] = "
    "frame['created_at'].dt.to_period('M')\n    return frame\n\norders_{n} = clean_orders_{n}(raw_{n})",
    "monthly_{n} = orders_{n}.groupby('month')['amount'].agg(['sum', 'mean', 'count'])\n"
    "monthly_{n}.columns = ['total', 'average', 'orders']\nmonthly_{n}.tail(12)",
    "top_customers_{n} = (orders_{n}.groupby('customer')['amount'].sum()\n"
    "    .sort_values(ascending=False).head(20))\nshare_{n} = top_customers_{n} / "
    "orders_{n}['amount'].sum()\nprint(share_{n}.round(3))",
    "def summarize_{n}(frame, by='customer', value='amount'):\n    grouped = frame.groupby(by)[value]\n"
    "    return pd.DataFrame({{'total': grouped.sum(), 'mean': grouped.mean(),\n"
    "                         'max': grouped.max(), 'orders': grouped.count()}})\n\n"
    "summary_{n} = summarize_{n}(orders_{n})\nsummary_{n}.describe()",
)

_TEXT_CELLS = (
    "import re\nimport collections\n\nWORD_{n} = re.compile(r\"[A-Za-z']+\")\n\n"
    "def tokens_{n}(text):\n    return [w.lower() for w in WORD_{n}.findall(text)]",
    "class Vocabulary{n}:\n    def __init__(self, min_count=2):\n        self.min_count = min_count\n"
    "        self.counts = collections.Counter()\n        self.index = {{}}\n\n"
    "    def add(self, words):\n        self.counts.update(words)\n\n    def build(self):\n"
    "        kept = [w for w, c in self.counts.most_common() if c >= self.min_count]\n"
    "        self.index = {{w: i for i, w in enumerate(kept)}}\n        return self",
    "def ngrams_{n}(words, size=2):\n    return [tuple(words[i:i + size]) for i in "
    "range(len(words) - size + 1)]\n\nsample_{n} = tokens_{n}('The quick brown fox jumps "
    "over the lazy dog again and again')\nngrams_{n}(sample_{n}, 3)[:5]",
    "def tf_idf_{n}(documents):\n    frequencies = [collections.Counter(tokens_{n}(d)) "
    "for d in documents]\n    document_count = collections.Counter()\n    for counts in "
    "frequencies:\n        document_count.update(counts.keys())\n    total = len(documents)\n"
    "    return [{{w: c * (total / document_count[w]) for w, c in counts.items()}}\n"
    "            for counts in frequencies]",
)

_ANALYSIS_VARS = (
    "Variables defined now:\nraw_1: pandas DataFrame, shape (48211, 6), columns [order_id: int64, "
    "customer: object, amount: float64, currency: object, created_at: datetime64[ns], "
    "status: object]\norders_1: pandas DataFrame, shape (47102, 7)\nmonthly_1: pandas "
    "DataFrame, shape (36, 3)"
)
_TEXT_VARS = (
    "Variables defined now:\nsample_1: list of 12 items: ['the', 'quick', 'brown', 'fox', …]\n"
    "vocab: Vocabulary1: <__main__.Vocabulary1 object at 0x7f3a2c1d5e50>"
)


def build_context(kind: str, target_tokens: int, count: Callable[[str], int]) -> str:
    """A notebook context of about ``target_tokens`` tokens (never more), as ``--context`` builds it.

    ``kind`` is "analysis" (the cell's notebook) or "text" (the panel's other notebook), so
    two contexts share nothing but the system prompt.
    """
    cells, variables = (_ANALYSIS_CELLS, _ANALYSIS_VARS) if kind == "analysis" else (_TEXT_CELLS, _TEXT_VARS)
    kept: list[str] = []
    n = 1
    while True:
        cell = cells[(n - 1) % len(cells)].format(n=(n - 1) // len(cells) + 1)
        text = _compose(kept + [cell], variables)
        if count(text) > target_tokens:
            break
        kept.append(cell)
        n += 1
        if n > 10_000:  # pragma: no cover - a tokenizer that counts nothing
            break
    return _compose(kept, variables)


def _compose(cells: list[str], variables: str) -> str:
    # The same layout as prompting.build_context, so the token counts are representative.
    return "Code already run in this notebook:\n```python\n" + "\n\n".join(cells) + "\n```\n\n" + variables


def with_context(context: str, question: str) -> str:
    """The prompt of a ``--context`` cell (prompting.compose_prompt's layout)."""
    return f"{context}\n\nRequest: {question}"


EDIT_CODE = '''def summarize_orders(orders, min_total, currency):
    totals = {}
    counts = {}
    for order in orders:
        customer = order["customer"]
        amount = order["amount"]
        if order.get("currency", currency) != currency:
            continue
        totals[customer] = totals.get(customer, 0) + amount
        counts[customer] = counts.get(customer, 0) + 1
    result = []
    for customer, total in totals.items():
        if total < min_total:
            continue
        average = total / counts[customer]
        result.append({"customer": customer, "total": round(total, 2),
                       "orders": counts[customer], "average": round(average, 2)})
    result.sort(key=lambda row: row["total"], reverse=True)
    return result'''

EDIT_CODE_2 = '''class RateLimiter:
    def __init__(self, rate, per, clock):
        self.rate = rate
        self.per = per
        self.clock = clock
        self.allowance = rate
        self.last_check = clock()

    def allow(self):
        now = self.clock()
        elapsed = now - self.last_check
        self.last_check = now
        self.allowance += elapsed * (self.rate / self.per)
        if self.allowance > self.rate:
            self.allowance = self.rate
        if self.allowance < 1.0:
            return False
        self.allowance -= 1.0
        return True'''

EDIT_REQUESTS = (
    "Add type hints to this function. Change nothing else:\n```python\n" + EDIT_CODE + "\n```",
    "Rename the attribute `allowance` to `tokens` everywhere in this class:\n```python\n"
    + EDIT_CODE_2 + "\n```",
    "Rename the variable `totals` to `sum_by_customer` in this function:\n```python\n"
    + EDIT_CODE + "\n```",
)
