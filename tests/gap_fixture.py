"""Thumbs-down questions for the gap tests: three topics of four paraphrases each that examples/docs do not answer,
and questions on topics of their own (other questions than those the threshold was measured on,
benchmarks/gap_questions.py). `SOLAR_DOCUMENT` answers the first topic."""

from __future__ import annotations

TOPICS: dict[str, tuple[str, ...]] = {
    "solar": (
        "Can the Lumio app show how much power my solar panels produce?",
        "Does the hub track solar panel energy production?",
        "solar inverter monitoring with lumio",
        "How do I see my rooftop solar output in the app?",
    ),
    "aquarium": (
        "Can the hub control my aquarium heater?",
        "How do I connect my fish tank heater to Lumio?",
        "aquarium heater automation with the hub",
        "Can Lumio switch the heater in my fish tank on and off?",
    ),
    "rental guests": (
        "Can I give my Airbnb guests temporary access to the lights?",
        "How do holiday rental guests use my smart home without my account?",
        "guest mode for short term rentals",
        "temporary access for visitors staying at my rental flat",
    ),
}

SINGLETONS: tuple[str, ...] = (
    "Does the hub have a built-in Bluetooth speaker?",
    "What is Lumio Labs' stock ticker symbol?",
    "Can I return a hub I bought second-hand on eBay?",
)

SOLAR_DOCUMENT = """# Solar Energy Monitoring with the Lumio Home Hub

The Lumio Home Hub shows how much power your solar panels produce. Connect your solar inverter under
Settings > Energy > Solar Inverter in the Lumio app; the hub reads rooftop solar output every 30 seconds.

## Seeing your solar production in the app

The Energy tab charts solar panel energy production per hour, day and month, next to what your home uses.
Solar inverter monitoring works with SunSpec Modbus inverters on the same network as the hub.
"""
