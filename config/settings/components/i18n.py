"""Language and time: zh-hans by default with English, Asia/Shanghai (DESIGN.md, Interfaces)."""

from django.utils.translation import gettext_lazy as _

from config.settings.env import BASE_DIR

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True
# English date formats for customers (24-hour clock, day month year); Chinese keeps Django's.
FORMAT_MODULE_PATH = ["config.formats"]
