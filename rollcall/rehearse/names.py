"""Who comes to the forum: the 37 countries (with how many of the 65 cities each sends), the
script their people write their names in, and a small table of given and family names per
script. Names are written as their bearers write them; the product must carry every one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Script:
    """Names of one writing system (and naming custom). A family name is one string, or a
    (masculine, feminine) pair where the language inflects it."""

    code: str
    given_m: tuple[str, ...]
    given_f: tuple[str, ...]
    family: tuple[str | tuple[str, str], ...]


HAN = Script(
    "Hani",
    ("伟", "强", "磊", "军", "建华", "志明", "国栋", "海涛"),
    ("芳", "娜", "敏", "静", "丽华", "秀英", "晓燕", "雪梅"),
    ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "欧阳"),
)
JAPANESE = Script(
    "Jpan",
    ("翔太", "大翔", "健一", "蓮", "浩二"),
    ("さくら", "陽菜", "結衣", "美咲", "由美子"),
    ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村"),
)
HANGUL = Script(
    "Hang",
    ("민준", "지훈", "도윤", "현우", "성민"),
    ("서연", "하은", "수빈", "지민", "은지"),
    ("김", "이", "박", "최", "정", "강", "조", "윤"),
)
CYRILLIC = Script(
    "Cyrl",
    ("Алексей", "Дмитрий", "Сергей", "Андрій", "Нурлан", "Олег"),
    ("Анна", "Мария", "Екатерина", "Олена", "Айгерим", "Ольга"),
    (("Иванов", "Иванова"), ("Смирнов", "Смирнова"), ("Кузнецов", "Кузнецова"),
     "Шевченко", "Коваленко", ("Назарбаев", "Назарбаева"), ("Соколов", "Соколова")),
)  # fmt: skip
ARABIC = Script(
    "Arab",
    ("محمد", "أحمد", "خالد", "عمر", "يوسف", "حسن"),
    ("فاطمة", "مريم", "ليلى", "نور", "سارة", "هدى"),
    ("العلي", "الحسن", "المنصوري", "السيد", "الشامي", "بن سالم", "الراشد", "الفاسي"),
)
DEVANAGARI = Script(
    "Deva",
    ("राहुल", "अमित", "विकास", "राजेश", "सुरेश"),
    ("प्रिया", "सुनीता", "अनीता", "पूजा", "कविता"),
    ("शर्मा", "वर्मा", "गुप्ता", "सिंह", "पटेल", "जोशी", "मिश्रा"),
)
GREEK = Script(
    "Grek",
    ("Γιώργος", "Νίκος", "Κώστας", "Σίμος", "Δημήτρης"),
    ("Μαρία", "Ελένη", "Σοφία", "Κατερίνα", "Αναστασία"),
    (("Παπαδόπουλος", "Παπαδοπούλου"), ("Ρούσσος", "Ρούσσου"), "Οικονόμου", "Γεωργίου",
     ("Μπακογιάννης", "Μπακογιάννη")),
)  # fmt: skip
THAI = Script(
    "Thai",
    ("สมชาย", "อนันต์", "ประเสริฐ", "วิชัย"),
    ("สมศรี", "มาลี", "วิภา", "สุดารัตน์"),
    ("ศรีสุข", "แก้วมณี", "วงศ์ไทย", "ทองดี", "สุขสวัสดิ์"),
)


def _latin(code, given_m, given_f, family) -> Script:
    return Script(code, tuple(given_m), tuple(given_f), tuple(family))


FRENCH = _latin(
    "fr",
    ["François", "Jérôme", "Loïc", "Benoît"],
    ["Élodie", "Hélène", "Anaïs"],
    ["Lefèvre", "Dupré", "Bérenger", "Mercier", "Hidalgo"],
)
SPANISH = _latin(
    "es",
    ["José", "Andrés", "Sebastián", "Rubén"],
    ["María", "Sofía", "Inés", "Clara"],
    ["García", "Martínez", "Núñez", "Peña", "Brugada Molina", "Ibáñez"],
)
PORTUGUESE = _latin(
    "pt",
    ["João", "Gonçalo", "Antônio"],
    ["Conceição", "Inês", "Luísa"],
    ["Gonçalves", "Araújo", "Simões", "Magalhães"],
)
GERMAN = _latin(
    "de",
    ["Jürgen", "Björn", "Jörg", "Lukas"],
    ["Käthe", "Jördis", "Anneliese"],
    ["Müller", "Schröder", "Weiß", "Groß", "Zürcher"],
)
ITALIAN = _latin(
    "it",
    ["Niccolò", "Luca", "Andrea"],
    ["Giulia", "Chiara", "Francesca"],
    ["Rossi", "Esposito", "Sala", "Nardò"],
)
POLISH = _latin(
    "pl",
    ["Łukasz", "Paweł", "Wojciech"],
    ["Małgorzata", "Zofia", "Agnieszka"],
    [("Wiśniewski", "Wiśniewska"), ("Kowalski", "Kowalska"), "Trzaskowski"],
)
TURKISH = _latin(
    "tr",
    ["Mehmet", "Gökhan", "Ekrem"],
    ["Ayşe", "Çağla", "Gülşen"],
    ["Yılmaz", "Öztürk", "Şahin", "Çelik", "İmamoğlu"],
)
VIETNAMESE = _latin(
    "vi",
    ["Văn Đức", "Minh Quân", "Hữu Phước"],
    ["Thị Hương", "Minh Châu"],
    ["Nguyễn", "Trần", "Lê", "Phạm"],
)
ENGLISH = _latin(
    "en",
    ["James", "Oluwaseun", "Thabo", "Liam", "Wanjiru"],
    ["Olivia", "Ngozi", "Amara", "Grace", "Siobhán"],
    ["Smith", "Okafor", "Nkosi", "O'Brien", "Kamau", "Santos", "Reyes"],
)
SWEDISH = _latin(
    "sv",
    ["Björn", "Sören", "Åke"],
    ["Åsa", "Märta", "Linnéa"],
    ["Åberg", "Löfgren", "Ström", "Sjöberg"],
)
MALAY = _latin("ms", ["Budi", "Ahmad", "Rizal"], ["Siti", "Dewi", "Nurul"],
               ["Santoso", "Rahman", "Wijaya", "Abdullah"])  # fmt: skip

# ISO code → (script, cities it sends). 37 countries, 65 cities; the host country sends most.
COUNTRIES: dict[str, tuple[Script, int]] = {
    "CN": (HAN, 8), "JP": (JAPANESE, 2), "KR": (HANGUL, 2), "RU": (CYRILLIC, 2),
    "KZ": (CYRILLIC, 2), "UA": (CYRILLIC, 1), "EG": (ARABIC, 2), "SA": (ARABIC, 2),
    "AE": (ARABIC, 2), "MA": (ARABIC, 1), "IN": (DEVANAGARI, 3), "GR": (GREEK, 2),
    "TH": (THAI, 2), "FR": (FRENCH, 2), "ES": (SPANISH, 2), "MX": (SPANISH, 2),
    "AR": (SPANISH, 1), "CO": (SPANISH, 1), "CL": (SPANISH, 1), "BR": (PORTUGUESE, 2),
    "PT": (PORTUGUESE, 1), "DE": (GERMAN, 2), "CH": (GERMAN, 1), "IT": (ITALIAN, 2),
    "PL": (POLISH, 1), "TR": (TURKISH, 2), "VN": (VIETNAMESE, 2), "ID": (MALAY, 2),
    "MY": (MALAY, 1), "PH": (ENGLISH, 1), "US": (ENGLISH, 2), "GB": (ENGLISH, 1),
    "AU": (ENGLISH, 1), "ZA": (ENGLISH, 1), "NG": (ENGLISH, 1), "KE": (ENGLISH, 1),
    "SE": (SWEDISH, 1),
}  # fmt: skip
# Cities a country sends first (the host city and its neighbours), before the most populous.
PREFERRED_CITIES = {"CN": ("Guangzhou", "Shenzhen", "Foshan", "Beijing", "Shanghai")}
# The host country's delegates write their cities in Chinese (geonames' alternate names are too
# mixed, old and foreign spellings among them, to pick from blindly).
CHINESE_CITY_NAMES = {
    "Guangzhou": "广州",
    "Shenzhen": "深圳",
    "Foshan": "佛山",
    "Beijing": "北京",
    "Shanghai": "上海",
    "Chengdu": "成都",
    "Tianjin": "天津",
    "Wuhan": "武汉",
    "Chongqing": "重庆",
    "Dongguan": "东莞",
    "Xi'an": "西安",
    "Hangzhou": "杭州",
}
# Nine international organisations: name, headquarters city, country.
ORGANISATIONS = (
    ("UN-Habitat", "Nairobi", "KE"),
    ("United Nations Development Programme", "New York City", "US"),
    ("World Bank", "Washington, D.C.", "US"),
    ("UNESCO", "Paris", "FR"),
    ("United Cities and Local Governments", "Barcelona", "ES"),
    ("C40 Cities", "London", "GB"),
    ("OECD", "Paris", "FR"),
    ("Asian Development Bank", "Quezon City", "PH"),
    ("ICLEI – Local Governments for Sustainability", "Bonn", "DE"),
)
