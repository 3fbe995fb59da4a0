"""Language identification as IFEval does it: ``langdetect``, but seeded.

langdetect samples n-grams at random; IFEval calls ``langdetect.detect`` unseeded, so a short or
mixed text may get a different language on each run. We use a detector factory of our own whose
seed is fixed (0 by default), which gives, for every text, what the reference gives after
``DetectorFactory.seed = 0`` — without changing langdetect's global state for anyone else.
"""

from __future__ import annotations

from functools import lru_cache

#: The languages IFEval's `language:response_language` may ask for (ISO 639-1 code -> name).
LANGUAGES: dict[str, str] = {
    "en": "English", "es": "Spanish", "pt": "Portuguese", "ar": "Arabic", "hi": "Hindi", "fr": "French",
    "ru": "Russian", "de": "German", "ja": "Japanese", "it": "Italian", "bn": "Bengali", "uk": "Ukrainian",
    "th": "Thai", "ur": "Urdu", "ta": "Tamil", "te": "Telugu", "bg": "Bulgarian", "ko": "Korean", "pl": "Polish",
    "he": "Hebrew", "fa": "Persian", "vi": "Vietnamese", "ne": "Nepali", "sw": "Swahili", "kn": "Kannada",
    "mr": "Marathi", "gu": "Gujarati", "pa": "Punjabi", "ml": "Malayalam", "fi": "Finnish",
}


@lru_cache(maxsize=1)
def _factory():
    # Loading langdetect's 55 profiles takes about a second: once per process, when first needed.
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    return factory


def detect_language(text: str, seed: int = 0) -> str | None:
    """langdetect's language code for ``text`` (``en``, ``zh-cn``, ...), or ``None`` when it
    finds nothing to go by (no letters): IFEval counts a language check as passed then."""
    from langdetect.lang_detect_exception import LangDetectException

    detector = _factory().create()
    detector.seed = seed
    detector.append(text)
    try:
        return detector.detect()
    except LangDetectException:
        return None


__all__ = ["LANGUAGES", "detect_language"]
