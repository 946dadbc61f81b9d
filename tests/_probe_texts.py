"""Prompts for the probe tests: twelve everyday questions in English and in Russian (item i
is the same question in both)."""

EN = [
    "How do I fix a leaking tap?",
    "Is it safe to swim after eating?",
    "What should I pack for a hike?",
    "Can I freeze cooked rice?",
    "How much water should I drink?",
    "Why is the sky blue?",
    "How do I start running?",
    "What is a good first car?",
    "Should I learn to cook?",
    "How do I save for a holiday?",
    "What makes bread rise?",
    "How do I water a cactus?",
]
RU = [
    "Как починить протекающий кран?",
    "Можно ли плавать после еды?",
    "Что взять в поход?",
    "Можно ли заморозить рис?",
    "Сколько воды нужно пить?",
    "Почему небо голубое?",
    "Как начать бегать?",
    "Какую машину купить первой?",
    "Стоит ли учиться готовить?",
    "Как накопить на отпуск?",
    "Почему поднимается хлеб?",
    "Как поливать кактус?",
]
