"""A labelled set of support questions about the Lumio hub (examples/) for choosing the gap-clustering threshold:
eight topics of five paraphrases each (two pairs of topics share words: resetting a password / the hub, moving
house / moving the hub to another room) and ten questions on topics of their own. Written for ragbot (CC0), in the
words users type: short, misspelt, with and without the product's name. The unit and integration tests use other
questions (tests/gap_fixture.py), so that the threshold is not chosen on the questions that check it."""

from __future__ import annotations

TOPICS: dict[str, tuple[str, ...]] = {
    "battery backup": (
        "Does the hub keep working during a power cut?",
        "Can the Lumio hub run on batteries if the electricity goes out?",
        "is there a battery backup in the hub",
        "What happens to my automations when the power fails?",
        "Will the hub stay on in a blackout?",
    ),
    "password reset": (
        "I forgot my Lumio account password, how do I reset it?",
        "How can I change my password if I can't log in?",
        "password reset email never arrives",
        "How do I recover my account when I lost the password?",
        "Where do I reset my login password?",
    ),
    "factory reset": (
        "How do I factory reset the hub?",
        "How to wipe the hub back to factory settings",
        "Which button do I hold to reset the Lumio hub completely?",
        "I want to erase everything on the hub and start again",
        "restore hub to default settings",
    ),
    "moving house": (
        "I'm moving to a new house, what do I do with my Lumio setup?",
        "How do I transfer my hub to the new owner when I sell my home?",
        "Can I take my devices and automations with me when I move house?",
        "selling my house, how do I remove my account from the hub",
        "What should I do with the hub when moving out?",
    ),
    "pets and motion": (
        "My cat keeps setting off the motion sensor",
        "Can the motion sensor ignore pets?",
        "dog triggers motion alerts all night",
        "Is there a pet-friendly mode for motion detection?",
        "How do I stop animals from triggering the sensors?",
    ),
    "child accounts": (
        "Can my kids have their own accounts?",
        "How do I add a child user with limited access?",
        "parental controls for the Lumio app",
        "Can I stop my children from changing the thermostat?",
        "Is there a restricted profile for teenagers?",
    ),
    "travel voltage": (
        "Can I use the hub abroad with a different voltage?",
        "Will the power adapter work in Europe on 230 V?",
        "taking the hub to the US, do I need a converter",
        "Does the charger support 110 volts?",
        "Which plug adapter do I need for the hub in the UK?",
    ),
    "calendar integration": (
        "Can automations follow my Google Calendar?",
        "Trigger a scene when a calendar event starts",
        "link outlook calendar to lumio routines",
        "Can the hub turn on the lights based on my calendar?",
        "How do I connect my calendar to schedules?",
    ),
}

SINGLETONS: tuple[str, ...] = (
    "What colour options does the hub come in?",
    "Is the hub made in China?",
    "Can I mount the hub upside down on the ceiling?",
    "Do you have a student discount?",
    "How loud is the hub's siren in decibels?",
    "Is there a Linux desktop app?",
    "Does Lumio sponsor any sports teams?",
    "Can two hubs share one subscription in different countries?",
    "What font does the Lumio logo use?",
    "How many people work at Lumio Labs?",
)


def labelled_questions() -> tuple[list[str], list[int]]:
    """The questions and their true group (each singleton a group of its own)."""
    questions, groups = [], []
    for group, paraphrases in enumerate(TOPICS.values()):
        questions += paraphrases
        groups += [group] * len(paraphrases)
    for offset, question in enumerate(SINGLETONS):
        questions.append(question)
        groups.append(len(TOPICS) + offset)
    return questions, groups
