"""Sample people for the demo shop: Japanese names (with romaji for e-mail addresses) and addresses.

Everything is fictional. E-mail domains are the names JPRS and IANA reserve for examples, so nothing the demo
writes can ever reach a real mailbox; bouncing addresses use the SES mailbox simulator's ``bounce+label@`` form.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# (kanji, kana, romaji) — among the most common 姓 in Japan
LAST_NAMES: tuple[tuple[str, str, str], ...] = (
    ("佐藤", "サトウ", "sato"),
    ("鈴木", "スズキ", "suzuki"),
    ("高橋", "タカハシ", "takahashi"),
    ("田中", "タナカ", "tanaka"),
    ("伊藤", "イトウ", "ito"),
    ("渡辺", "ワタナベ", "watanabe"),
    ("山本", "ヤマモト", "yamamoto"),
    ("中村", "ナカムラ", "nakamura"),
    ("小林", "コバヤシ", "kobayashi"),
    ("加藤", "カトウ", "kato"),
    ("吉田", "ヨシダ", "yoshida"),
    ("山田", "ヤマダ", "yamada"),
    ("佐々木", "ササキ", "sasaki"),
    ("山口", "ヤマグチ", "yamaguchi"),
    ("松本", "マツモト", "matsumoto"),
    ("井上", "イノウエ", "inoue"),
    ("木村", "キムラ", "kimura"),
    ("林", "ハヤシ", "hayashi"),
    ("斎藤", "サイトウ", "saito"),
    ("清水", "シミズ", "shimizu"),
    ("山崎", "ヤマザキ", "yamazaki"),
    ("森", "モリ", "mori"),
    ("池田", "イケダ", "ikeda"),
    ("橋本", "ハシモト", "hashimoto"),
    ("阿部", "アベ", "abe"),
    ("石川", "イシカワ", "ishikawa"),
    ("山下", "ヤマシタ", "yamashita"),
    ("中島", "ナカジマ", "nakajima"),
    ("石井", "イシイ", "ishii"),
    ("小川", "オガワ", "ogawa"),
    ("前田", "マエダ", "maeda"),
    ("岡田", "オカダ", "okada"),
    ("長谷川", "ハセガワ", "hasegawa"),
    ("藤田", "フジタ", "fujita"),
    ("後藤", "ゴトウ", "goto"),
    ("近藤", "コンドウ", "kondo"),
    ("村上", "ムラカミ", "murakami"),
    ("遠藤", "エンドウ", "endo"),
    ("青木", "アオキ", "aoki"),
    ("坂本", "サカモト", "sakamoto"),
)

FIRST_NAMES: tuple[tuple[str, str, str], ...] = (
    ("陽葵", "ヒマリ", "himari"),
    ("結菜", "ユイナ", "yuina"),
    ("葵", "アオイ", "aoi"),
    ("美咲", "ミサキ", "misaki"),
    ("さくら", "サクラ", "sakura"),
    ("由美", "ユミ", "yumi"),
    ("恵子", "ケイコ", "keiko"),
    ("真由美", "マユミ", "mayumi"),
    ("花子", "ハナコ", "hanako"),
    ("愛", "アイ", "ai"),
    ("彩", "アヤ", "aya"),
    ("千尋", "チヒロ", "chihiro"),
    ("優子", "ユウコ", "yuko"),
    ("直子", "ナオコ", "naoko"),
    ("智子", "トモコ", "tomoko"),
    ("明美", "アケミ", "akemi"),
    ("奈々", "ナナ", "nana"),
    ("麻衣", "マイ", "mai"),
    ("蓮", "レン", "ren"),
    ("湊", "ミナト", "minato"),
    ("大翔", "ヒロト", "hiroto"),
    ("翔太", "ショウタ", "shota"),
    ("健太", "ケンタ", "kenta"),
    ("太郎", "タロウ", "taro"),
    ("一郎", "イチロウ", "ichiro"),
    ("誠", "マコト", "makoto"),
    ("浩", "ヒロシ", "hiroshi"),
    ("隆", "タカシ", "takashi"),
    ("大輔", "ダイスケ", "daisuke"),
    ("拓也", "タクヤ", "takuya"),
    ("和也", "カズヤ", "kazuya"),
    ("直樹", "ナオキ", "naoki"),
    ("悠真", "ユウマ", "yuma"),
    ("陸", "リク", "riku"),
    ("颯太", "ソウタ", "sota"),
    ("修", "オサム", "osamu"),
)

# (都道府県, ISO 3166-2 code, weight ≈ population in 100k, sample city, sample 〒 prefix)
PREFECTURES: tuple[tuple[str, str, int, str, str], ...] = (
    ("北海道", "JP-01", 51, "札幌市中央区", "060"),
    ("青森県", "JP-02", 12, "青森市", "030"),
    ("岩手県", "JP-03", 12, "盛岡市", "020"),
    ("宮城県", "JP-04", 23, "仙台市青葉区", "980"),
    ("秋田県", "JP-05", 9, "秋田市", "010"),
    ("山形県", "JP-06", 10, "山形市", "990"),
    ("福島県", "JP-07", 18, "郡山市", "963"),
    ("茨城県", "JP-08", 28, "水戸市", "310"),
    ("栃木県", "JP-09", 19, "宇都宮市", "320"),
    ("群馬県", "JP-10", 19, "高崎市", "370"),
    ("埼玉県", "JP-11", 73, "さいたま市浦和区", "330"),
    ("千葉県", "JP-12", 63, "千葉市中央区", "260"),
    ("東京都", "JP-13", 140, "世田谷区", "154"),
    ("神奈川県", "JP-14", 92, "横浜市港北区", "222"),
    ("新潟県", "JP-15", 21, "新潟市中央区", "951"),
    ("富山県", "JP-16", 10, "富山市", "930"),
    ("石川県", "JP-17", 11, "金沢市", "920"),
    ("福井県", "JP-18", 8, "福井市", "910"),
    ("山梨県", "JP-19", 8, "甲府市", "400"),
    ("長野県", "JP-20", 20, "松本市", "390"),
    ("岐阜県", "JP-21", 20, "岐阜市", "500"),
    ("静岡県", "JP-22", 36, "静岡市葵区", "420"),
    ("愛知県", "JP-23", 75, "名古屋市千種区", "464"),
    ("三重県", "JP-24", 17, "津市", "514"),
    ("滋賀県", "JP-25", 14, "大津市", "520"),
    ("京都府", "JP-26", 25, "京都市左京区", "606"),
    ("大阪府", "JP-27", 88, "大阪市北区", "530"),
    ("兵庫県", "JP-28", 54, "神戸市東灘区", "658"),
    ("奈良県", "JP-29", 13, "奈良市", "630"),
    ("和歌山県", "JP-30", 9, "和歌山市", "640"),
    ("鳥取県", "JP-31", 5, "鳥取市", "680"),
    ("島根県", "JP-32", 7, "松江市", "690"),
    ("岡山県", "JP-33", 19, "岡山市北区", "700"),
    ("広島県", "JP-34", 28, "広島市中区", "730"),
    ("山口県", "JP-35", 13, "山口市", "753"),
    ("徳島県", "JP-36", 7, "徳島市", "770"),
    ("香川県", "JP-37", 9, "高松市", "760"),
    ("愛媛県", "JP-38", 13, "松山市", "790"),
    ("高知県", "JP-39", 7, "高知市", "780"),
    ("福岡県", "JP-40", 51, "福岡市中央区", "810"),
    ("佐賀県", "JP-41", 8, "佐賀市", "840"),
    ("長崎県", "JP-42", 13, "長崎市", "850"),
    ("熊本県", "JP-43", 17, "熊本市中央区", "860"),
    ("大分県", "JP-44", 11, "大分市", "870"),
    ("宮崎県", "JP-45", 11, "宮崎市", "880"),
    ("鹿児島県", "JP-46", 16, "鹿児島市", "890"),
    ("沖縄県", "JP-47", 15, "那覇市", "900"),
)

EMAIL_DOMAINS: tuple[tuple[str, int], ...] = (
    ("example.jp", 30),
    ("example.co.jp", 15),
    ("example.ne.jp", 25),
    ("example.com", 20),
    ("example.org", 10),
)
BOUNCE_DOMAIN = "simulator.amazonses.com"  # SES mailbox simulator: bounce+label@ hard-bounces


@dataclass(frozen=True)
class Person:
    last_name: str
    first_name: str
    last_kana: str
    first_kana: str
    email: str
    phone: str  # E.164, as Shopify sends it
    province: str
    province_code: str
    city: str
    address1: str
    zip: str

    @property
    def full_name(self) -> str:
        return f"{self.last_name} {self.first_name}"


def make_person(rng: random.Random, serial: int, bounce: bool = False) -> Person:
    last = rng.choice(LAST_NAMES)
    first = rng.choice(FIRST_NAMES)
    pref = rng.choices(PREFECTURES, weights=[p[2] for p in PREFECTURES])[0]
    if bounce:
        email = f"bounce+{first[2]}.{last[2]}{serial}@{BOUNCE_DOMAIN}"
    else:
        domain = rng.choices([d for d, _ in EMAIL_DOMAINS], weights=[w for _, w in EMAIL_DOMAINS])[0]
        style = rng.randrange(3)
        local = (
            f"{first[2]}.{last[2]}{serial}"
            if style == 0
            else f"{last[2]}_{first[2][0]}{serial}"
            if style == 1
            else f"{first[2]}{serial}"
        )
        email = f"{local}@{domain}"
    phone = f"+8190{rng.randrange(10_000_000, 100_000_000)}"
    chome = rng.randint(1, 5)
    town = rng.choice(("本町", "緑町", "中央", "旭町", "栄町", "桜木町", "東町"))
    address1 = f"{town}{chome}-{rng.randint(1, 30)}-{rng.randint(1, 20)}"
    zip_code = f"{pref[4]}-{rng.randrange(0, 10_000):04d}"
    return Person(
        last_name=last[0],
        first_name=first[0],
        last_kana=last[1],
        first_kana=first[1],
        email=email,
        phone=phone,
        province=pref[0],
        province_code=pref[1],
        city=pref[3],
        address1=address1,
        zip=zip_code,
    )
