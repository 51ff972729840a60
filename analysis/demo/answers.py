# ruff: noqa: E501  (answer templates read best one per line)
"""Support-agent answers with known differences in meaning: the demo's answers (v2.0's concise prompt
makes them curt) and the semantic-drift tests and benchmark.

Each answer is an opener, a body about one topic and a closer, drawn from several phrasings with
random details (order numbers, days, products), so two samples of the same mix differ the way real
answers do. Knobs: the topic mix, the tone (``friendly`` or ``curt``: same topics, short and blunt)
and the wording (``b``: the same meanings, every sentence phrased differently).
"""

from __future__ import annotations

import random

PRODUCTS = ["headphones", "coffee maker", "running shoes", "desk lamp", "backpack", "phone case", "blender", "jacket"]
CARRIERS = ["DHL", "UPS", "FedEx", "the postal service"]

BODIES = {
    "a": {
        "refund": [
            "I've issued a full refund of ${amount} for your {product}; it should reach your card within {days} business days.",
            "Your return for the {product} (order #{order}) was approved and ${amount} is on its way back to you.",
            "Since the {product} arrived damaged, I've refunded the ${amount} to your original payment method.",
            "You can return the {product} within 30 days for a refund; I've emailed you a prepaid return label.",
        ],
        "shipping": [
            "Your {product} (order #{order}) shipped with {carrier} and should arrive in {days} days.",
            "The tracking for order #{order} shows your {product} is at the local {carrier} depot today.",
            "I've upgraded the shipping on your {product} to express, so it will arrive within {days} days.",
            "Your parcel with the {product} was delayed at customs; {carrier} expects to deliver it in {days} days.",
        ],
        "account": [
            "I've sent a password reset link to your email; it stays valid for {days} hours.",
            "Your account email is now updated, and you'll need to sign in again on your devices.",
            "I've turned on two-factor authentication for your account as you asked.",
            "Your account was locked after several failed logins; I've unlocked it so you can sign in.",
        ],
        "billing": [
            "I've corrected the invoice for order #{order}; the new total is ${amount}.",
            "You were charged twice for the {product}; I've voided the duplicate charge of ${amount}.",
            "Your subscription renews on the {days}th, and you can change the plan from the billing page.",
            "I've applied a ${amount} credit to your next invoice for the trouble.",
        ],
    },
    "b": {  # the same meanings, worded differently
        "refund": [
            "A complete refund of ${amount} for the {product} is done, and the money will be back on your card in {days} working days.",
            "We approved returning the {product} from order #{order}, and the ${amount} is being sent back to you.",
            "Because your {product} came broken, the ${amount} has been returned to the card you paid with.",
            "The {product} can be sent back for your money within 30 days; a free return label is in your inbox.",
        ],
        "shipping": [
            "{carrier} has your {product} from order #{order} and will deliver it in about {days} days.",
            "According to tracking, order #{order} with your {product} is waiting at {carrier}'s nearby depot.",
            "Your {product} now ships express at no cost, so expect it in {days} days at most.",
            "Customs held up the package with your {product}; {carrier} plans to drop it off in {days} days.",
        ],
        "account": [
            "Check your inbox for a link to reset the password; you can use it for {days} hours.",
            "The email on your account has been changed, so please log in again on each device.",
            "Two-factor sign-in is now active on your account, as requested.",
            "Too many wrong passwords locked the account; it's unlocked now and you can log in.",
        ],
        "billing": [
            "The invoice for order #{order} is fixed and now comes to ${amount} in total.",
            "The {product} was billed to you two times, so the extra ${amount} charge has been cancelled.",
            "The subscription renews on day {days} of the month; plans can be switched on the billing page.",
            "For the inconvenience, a ${amount} credit will come off your next invoice.",
        ],
    },
}
OPENERS = {
    "a": [
        "Thanks so much for reaching out!",
        "Happy to help with that!",
        "I'm sorry about the trouble.",
        "Great question!",
    ],
    "b": ["Thank you for contacting us!", "Glad to help!", "Apologies for the hassle.", "Good question!"],
}
CLOSERS = {
    "a": [
        "Let me know if there's anything else I can do.",
        "Have a wonderful day!",
        "Feel free to reply with any other questions.",
    ],
    "b": [
        "Reply here if you need anything more.",
        "Enjoy the rest of your day!",
        "Write back any time with more questions.",
    ],
}
CURT = {
    "refund": [
        "Refund of ${amount} issued. {days} days.",
        "Return approved. Order #{order}.",
        "Refunded ${amount}.",
        "Return label sent.",
    ],
    "shipping": [
        "Shipped. {days} days.",
        "At the depot. Order #{order}.",
        "Upgraded to express.",
        "Held at customs. {days} days.",
    ],
    "account": ["Reset link sent.", "Email updated.", "2FA on.", "Account unlocked."],
    "billing": [
        "Invoice fixed: ${amount}.",
        "Duplicate charge voided.",
        "Renews on the {days}th.",
        "${amount} credit applied.",
    ],
}


TOPICS = ("refund", "shipping", "account", "billing")
QUESTIONS = {
    "refund": [
        "Can I get my money back for the {product}?",
        "How do I return the {product} I bought?",
        "My {product} arrived broken, what now?",
    ],
    "shipping": ["Where is my order #{order}?", "When will my {product} arrive?", "Can you ship the {product} faster?"],
    "account": [
        "I can't log in to my account.",
        "How do I change the email on my account?",
        "Please turn on two-factor sign-in.",
    ],
    "billing": [
        "Why was I charged twice for the {product}?",
        "Can you fix the invoice for order #{order}?",
        "When does my subscription renew?",
    ],
}


def question(rng: random.Random, topic: str) -> str:
    """A customer's question about ``topic`` (what the answers of that topic reply to)."""
    return rng.choice(QUESTIONS[topic]).format(product=rng.choice(PRODUCTS), order=rng.randint(10_000, 99_999))


def answer(rng: random.Random, topic: str, tone: str = "friendly", wording: str = "a") -> str:
    fill = {
        "amount": f"{rng.randint(12, 240)}.{rng.randint(0, 99):02d}",
        "product": rng.choice(PRODUCTS),
        "order": rng.randint(10_000, 99_999),
        "days": rng.randint(2, 10),
        "carrier": rng.choice(CARRIERS),
    }
    if tone == "curt":
        return rng.choice(CURT[topic]).format(**fill)
    body = rng.choice(BODIES[wording][topic]).format(**fill)
    return f"{rng.choice(OPENERS[wording])} {body} {rng.choice(CLOSERS[wording])}"


def answers(
    n: int,
    seed: int,
    mix: dict[str, float] | None = None,
    tone: str = "friendly",
    wording: str = "a",
) -> list[str]:
    """``n`` answers whose topics follow ``mix`` (default: the four topics equally)."""
    rng = random.Random(seed)
    mix = mix or {"refund": 0.25, "shipping": 0.25, "account": 0.25, "billing": 0.25}
    topics, weights = list(mix), list(mix.values())
    return [answer(rng, rng.choices(topics, weights)[0], tone, wording) for _ in range(n)]
