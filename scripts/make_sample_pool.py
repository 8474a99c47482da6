#!/usr/bin/env python3
"""Generate the bundled synthetic sample pool ``src/metacurate/data/sample_pool.parquet``.

The pool imitates CommonCrawl image alt texts (product titles, captions, news and blog
images, boilerplate icons, file-name junk, empty strings, other languages, ...) so that
MetaCLIP matching against a ~500k-entry English metadata list gives a realistic long-tailed
entry-count distribution. It is entirely synthetic: no crawl text is redistributed.

Usage::

    python scripts/make_sample_pool.py                 # write the bundled parquet
    python scripts/make_sample_pool.py --report        # also print matching statistics
    python scripts/make_sample_pool.py --report --no-write

Needs numpy, pyarrow and wordfreq (``pip install -e .[build-data]``). The output is a
pure function of (n_rows, seed, wordfreq data): the same inputs give the same table.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import hashlib
import json
import sys
import time
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "src" / "metacurate" / "data"
DEFAULT_OUTPUT = DATA_DIR / "sample_pool.parquet"
DEFAULT_METADATA = DATA_DIR / "default_metadata.json.gz"
DEFAULT_N_ROWS = 30_000
DEFAULT_SEED = 20230916  # arXiv 2309.16671
ZSTD_LEVEL = 19
REPORT_THRESHOLDS = (10, 20, 30, 50, 100, 200, 500, 1000)
DEMO_T = 10  # recommended balancing threshold for demos on this pool (see docs/sample-pool.md)
SCHEMA = pa.schema(
    [
        ("url", pa.string()),
        ("uuid", pa.string()),
        ("text", pa.string()),
        ("page_url", pa.string()),
    ]
)


def url_uuid(url: str) -> str:
    """Image id as in MetaCLIP: first 24 hex digits of SHA-224 of the URL."""
    return hashlib.sha224(url.encode("utf-8")).hexdigest()[:24]


# --------------------------------------------------------------------------------------
# Random draws: one numpy Generator, consumed in blocks (fast, fully deterministic).
# --------------------------------------------------------------------------------------


class Weighted:
    """A list of items with sampling weights (cumulative sums for bisection)."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, items, weights):
        if len(items) != len(weights) or not items:
            raise ValueError("items and weights must be non-empty and of equal length")
        self.items = list(items)
        self.cum = np.cumsum(np.asarray(weights, dtype=np.float64)).tolist()
        self.total = self.cum[-1]


class Draw:
    def __init__(self, seed: int):
        self._rng = np.random.default_rng(seed)
        self._buf: list[float] = []
        self._i = 0

    def u(self) -> float:
        if self._i >= len(self._buf):
            self._buf = self._rng.random(1 << 16).tolist()
            self._i = 0
        v = self._buf[self._i]
        self._i += 1
        return v

    def chance(self, p: float) -> bool:
        return self.u() < p

    def pick(self, seq):
        return seq[int(self.u() * len(seq))]

    def w(self, wl: Weighted):
        i = bisect.bisect_right(wl.cum, self.u() * wl.total)
        return wl.items[min(i, len(wl.items) - 1)]

    def int(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi]."""
        return lo + int(self.u() * (hi - lo + 1))

    def geom(self, p: float, cap: int) -> int:
        """Number of trials until the first success (>= 1), capped."""
        k = 1
        while k < cap and self.u() >= p:
            k += 1
        return k

    def hexs(self, n: int) -> str:
        return "".join("0123456789abcdef"[int(self.u() * 16)] for _ in range(n))


# --------------------------------------------------------------------------------------
# Word lists. Hand-written lists are weighted by their English frequency (wordfreq) so
# that common words dominate, as in real alt texts; the open vocabulary comes from
# wordfreq's top-n list with Zipf-like weights.
# --------------------------------------------------------------------------------------


def _freq(phrase: str) -> float:
    import wordfreq

    return wordfreq.word_frequency(phrase.lower(), "en")


def fw(phrases: list[str], alpha: float = 1.6, floor: float = 1e-7) -> Weighted:
    """Weighted list with weight = max(wordfreq frequency, floor) ** alpha (single words)."""
    return Weighted(phrases, [max(_freq(p), floor) ** alpha for p in phrases])


def zw(items: list, s: float = 1.0) -> Weighted:
    """Zipf weights by list position (lists of names are written most common first)."""
    return Weighted(items, [1.0 / (r + 2) ** s for r in range(len(items))])


def uw(items: list[str]) -> Weighted:
    return Weighted(items, [1.0] * len(items))


def _split(s: str) -> list[str]:
    return [x.strip() for x in s.split("|") if x.strip()]


COLORS = _split(
    "Black|White|Red|Blue|Green|Grey|Gray|Pink|Navy|Brown|Beige|Gold|Silver|Yellow|Purple|"
    "Orange|Cream|Ivory|Burgundy|Khaki|Olive|Teal|Turquoise|Charcoal|Tan|Rose Gold|Mint|"
    "Multicolor|Natural|Light Blue|Dark Green|Camel|Coral|Lilac|Mustard|Navy Blue"
)
FABRICS = _split(
    "Leather|Cotton|Wool|Linen|Silk|Denim|Suede|Velvet|Cashmere|Canvas|Faux Fur|Fleece|"
    "Satin|Merino Wool|Corduroy|Lace|Chiffon|Knit|Jersey|Tweed|Nylon|Faux Leather"
)
MATERIALS = _split(
    "Wooden|Oak|Bamboo|Ceramic|Glass|Plastic|Stainless Steel|Brass|Marble|Rattan|Acrylic|"
    "Porcelain|Walnut|Pine|Metal|Copper|Cast Iron|Concrete|Velvet|Linen|Cotton|Leather|Wicker"
)
ADJECTIVES = _split(
    "New|Vintage|Classic|Modern|Slim Fit|Oversized|Handmade|Personalised|Personalized|Large|"
    "Small|Mini|Portable|Wireless|Waterproof|Adjustable|Foldable|Rustic|Luxury|Premium|"
    "Organic|Retro|Casual|Elegant|Cute|Funny|Custom|Heavy Duty|Lightweight|Soft|Warm|Round|"
    "Square|Decorative|Outdoor|Indoor|Kids|Baby|Natural|Floral|Striped|Printed|Knitted|"
    "Quilted|Padded|Extra Large|Eco Friendly|Reusable|Non Slip|Compact|Professional"
)
GENDERS = _split("Women's|Men's|Womens|Mens|Kids|Girls|Boys|Unisex|Ladies|Women|Men|Girls'")
APPAREL = _split(
    "Ankle Boots|Boots|Chelsea Boots|Sneakers|Trainers|Sandals|Heels|Loafers|Slippers|Dress|"
    "Maxi Dress|T-Shirt|Tee|Shirt|Blouse|Hoodie|Sweater|Jumper|Cardigan|Jacket|Coat|"
    "Puffer Jacket|Jeans|Trousers|Shorts|Skirt|Leggings|Socks|Scarf|Hat|Beanie|Cap|Gloves|"
    "Belt|Backpack|Handbag|Tote Bag|Wallet|Swimsuit|Bikini|Pajamas|Polo Shirt|Blazer|Vest|"
    "Raincoat|Dressing Gown|Tank Top|Joggers|Suit"
)
SIZES = _split("XS|S|M|L|XL|XXL|3XL|One Size|Small|Medium|Large|UK 8|UK 10|EU 38|EU 42|32W 30L")
HOME_ITEMS = _split(
    "Night Light|Table Lamp|Throw Pillow|Cushion Cover|Wall Art|Canvas Print|Poster|"
    "Coffee Mug|Mug|Tea Towel|Blanket|Rug|Doormat|Candle|Vase|Wall Clock|Mirror|"
    "Shower Curtain|Bedding Set|Duvet Cover|Keychain|Phone Case|Sticker|Ornament|"
    "Cutting Board|Planter|Picture Frame|Bookends|Coasters|Apron|Tote Bag|Notebook|"
    "Water Bottle|Lunch Box|Greeting Card|Jigsaw Puzzle|Figurine|Wind Chime|Magnet|"
    "Door Sign|Cookie Jar|Trinket Box|Lampshade|Wall Decal|Pillow|Storage Basket"
)
ANIMALS = _split(
    "Cat|Dog|Owl|Fox|Elephant|Horse|Unicorn|Dinosaur|Bear|Rabbit|Bunny|Lion|Tiger|Panda|"
    "Penguin|Deer|Flamingo|Butterfly|Hedgehog|Sloth|Llama|Koala|Whale|Shark|Dolphin|Cow|"
    "Pig|Sheep|Chicken|Duck|Frog|Turtle|Bee|Dragon|Wolf|Giraffe|Zebra|Monkey|Parrot|Squirrel"
)
DOG_BREEDS = _split(
    "Staffordshire Bull Terrier|Golden Retriever|Labrador|French Bulldog|German Shepherd|"
    "Beagle|Dachshund|Pug|Border Collie|Poodle|Chihuahua|Boxer|Husky|Corgi|Shih Tzu|"
    "Yorkshire Terrier|Rottweiler|Great Dane|Cocker Spaniel|Jack Russell|Boston Terrier|"
    "Greyhound|Whippet|Dalmatian|Bulldog|Schnauzer|Pomeranian|Maltese|Doberman|Weimaraner|"
    "Bernese Mountain Dog|Shiba Inu|Cavalier King Charles Spaniel|Springer Spaniel|Lurcher"
)
MOTIFS = _split(
    "Heart|Star|Moon|Sun|Flower|Rose|Tree|Leaf|Feather|Anchor|Cross|Infinity|Butterfly|"
    "Mountain|Wave|Skull|Crown|Rainbow|Christmas Tree|Snowflake|Pineapple|Cactus|Mandala|"
    "Paw Print|Horseshoe|Compass|Bee|Daisy|Sunflower|Lotus|Initial|Birthstone|Angel|Wings"
)
ELECTRONICS = _split(
    "Wireless Bluetooth Headphones|Earbuds|USB-C Charging Cable|Charger|Power Bank|"
    "Phone Case|Screen Protector|Laptop Stand|Keyboard|Mouse|Monitor|Webcam|Smart Watch|"
    "Speaker|Bluetooth Speaker|LED Strip Lights|HDMI Cable|Memory Card|Router|Tablet|"
    "Camera|Drone|Gaming Headset|Microphone|Car Charger|Wall Charger|Projector|Dash Cam|"
    "Fitness Tracker|Smart Plug|Light Bulb|Extension Lead|Laptop Bag|Tripod|Ring Light"
)
E_BRANDS = _split(
    "Samsung|Sony|Apple|Logitech|Anker|Philips|Panasonic|Lenovo|Canon|Nikon|JBL|Bose|"
    "Xiaomi|Huawei|Belkin|TP-Link|Dell|HP|Asus|Acer|Garmin|GoPro|Kingston|SanDisk"
)
E_SPECS = _split(
    "2m|1m|3m|10000mAh|20000mAh|1080p|4K|32GB|64GB|128GB|256GB|65W|20W|5V 2A|HD|Full HD|"
    "USB 3.0|Type C|2 Pack|3 Pack|Black|White|Grey|Silver"
)
COMPAT = _split(
    "for iPhone 12|for iPhone 13 Pro|for iPhone 11|for Samsung Galaxy S21|for Galaxy A52|"
    "for MacBook Pro 13|for iPad Air|for PS5|for Nintendo Switch|for Xbox One|for Android|"
    "for Laptop|for Car|for Kids|for Men|for Women|for Home|for Office|for Dogs|for Cats"
)
FURNITURE = _split(
    "Sofa|Corner Sofa|Dining Table|Coffee Table|Bookcase|Bed Frame|Office Chair|Bar Stool|"
    "Wardrobe|Desk|TV Stand|Sideboard|Armchair|Bench|Chest of Drawers|Bedside Table|"
    "Dining Chairs|Shelving Unit|Console Table|Ottoman|Futon|Bunk Bed|Mattress|Headboard"
)
GARDEN = _split(
    "Garden Hose|Lawn Mower|Cordless Drill|Screwdriver Set|Socket Set|Wheelbarrow|"
    "Hedge Trimmer|Garden Gnome|Bird Feeder|Solar Lights|Plant Pot|Raised Bed|Greenhouse|"
    "Patio Set|Parasol|BBQ Grill|Fire Pit|Garden Bench|Watering Can|Pruning Shears|Ladder|"
    "Tool Box|Workbench|Pressure Washer|Leaf Blower|Compost Bin"
)
JEWELRY = _split(
    "Necklace|Pendant Necklace|Ring|Earrings|Stud Earrings|Hoop Earrings|Bracelet|Anklet|"
    "Charm|Brooch|Cufflinks|Locket|Bangle|Chain|Engagement Ring|Wedding Band"
)
METALS = _split(
    "925 Sterling Silver|Sterling Silver|14k Gold|18k Gold|Gold Plated|Rose Gold|Silver"
)
FOOD = _split(
    "Green Tea|Dark Chocolate|Coffee Beans|Ground Coffee|Olive Oil|Honey|Protein Powder|"
    "Gift Hamper|Cookies|Biscuits|Granola|Peanut Butter|Pasta|Rice|Hot Sauce|Jam|Tea Bags|"
    "Dog Food|Cat Food|Vitamins|Almonds|Dried Mango|Maple Syrup|Sea Salt|Spice Set"
)
WEIGHTS = _split("500g|1kg|250g|100g|2kg|12 x 330ml|6 x 750ml|1L|30 Capsules|60 Tablets|Pack of 3")
CAR_PARTS = _split(
    "Brake Pads|Brake Discs|Air Filter|Oil Filter|Wiper Blades|Headlight Bulbs|Floor Mats|"
    "Seat Covers|Spark Plugs|Roof Rack|Tow Bar|Car Battery|Alloy Wheels|Tyres|Exhaust"
)
CARS = _split(
    "for Ford Focus 2012-2018|for VW Golf|for Toyota Corolla|for BMW 3 Series|for Honda Civic|"
    "for Audi A4|for Vauxhall Astra|for Nissan Qashqai|for Renault Clio|for Mercedes C Class|"
    "Ford Fiesta|Toyota Yaris|Tesla Model 3|Jeep Wrangler"
)
TOYS = _split(
    "Building Blocks Set|Plush Toy|Soft Toy|Jigsaw Puzzle 1000 Pieces|Board Game|"
    "Action Figure|Doll|Remote Control Car|Wooden Train Set|Play Kitchen|Kite|Puppet|"
    "Colouring Book|Craft Kit|Stacking Rings|Bath Toys|Teddy Bear|Toy Car|Dolls House"
)
OCCASIONS = _split(
    "Birthday|Christmas|Wedding|Anniversary|Mother's Day|Father's Day|Valentine's Day|"
    "Halloween|Easter|Graduation|Baby Shower|Retirement|New Home|Thank You|Teacher"
)

SUBJECTS = _split(
    "a dog|a cat|a woman|a man|two children|a young girl|a little boy|a group of friends|"
    "a family|an old man|an elderly woman|a couple|a businessman|a chef|a horse|a bird|"
    "students|a teenager|a doctor|a nurse|a farmer|a puppy|a kitten|two dogs|a baby|"
    "a young woman|a young man|a mother and her daughter|a father and son|tourists|"
    "a cyclist|a runner|a musician|a teacher|workers|a girl|a boy|people|a crowd"
)
ACTIONS = _split(
    "playing|sitting|running|walking|standing|smiling|reading a book|"
    "holding a cup of coffee|working on a laptop|cooking|eating|sleeping|laughing|"
    "riding a bike|swimming|looking at the camera|talking on the phone|drinking coffee|"
    "dancing|hiking|jumping|lying on the grass|taking a selfie|waiting|painting|"
    "playing the guitar|writing|shopping|relaxing|posing|playing with a ball"
)
PLACES = _split(
    "in the park|on the beach|at the office|in the kitchen|in the garden|on a sofa|"
    "in the snow|by the lake|in a forest|at home|on the street|in a cafe|at sunset|"
    "on a white background|in the city|in the mountains|at the airport|in a field|"
    "on a bench|in the rain|at night|in a classroom|in the living room|on the grass|"
    "at the market|by the sea|in a library|on a boat|at the beach|in the woods"
)
STILL_LIFE = _split(
    "fresh strawberries|a cup of coffee|vegetables|a bowl of soup|flowers|autumn leaves|"
    "a wooden table|a birthday cake|a glass of wine|fresh bread|a laptop|an old camera|"
    "red apples|a bouquet of roses|pizza|a salad|pancakes|a stack of books|sushi|"
    "a cup of tea|chocolate cake|pasta|lemons|tomatoes|a burger and fries|cupcakes"
)
SURFACES = _split(
    "on a wooden table|in a bowl|on a plate|on a white background|on a black background|"
    "on the kitchen counter|in a basket|on a marble surface|on a tray|in a glass jar"
)
ROOMS = _split(
    "kitchen|living room|bedroom|bathroom|master bedroom|dining room|garden|backyard|"
    "front porch|home office|kitchen island|patio|hallway|basement|loft|garage|nursery|"
    "open plan kitchen|en suite|conservatory|balcony|swimming pool|exterior|entrance"
)
LANDSCAPES = _split(
    "the city skyline|the mountains|the lake|the old town|the harbour|the beach|"
    "the bridge|the river|the cathedral|the castle|the valley|the coast|the countryside|"
    "the waterfall|the lighthouse|the sunset|the village|the main square|the forest|"
    "the desert|the island|the vineyard|the glacier"
)
FIRST_NAMES = _split(
    "John|Michael|David|James|Robert|William|Richard|Thomas|Daniel|Mark|Paul|Steven|Andrew|"
    "Peter|Chris|Matthew|Brian|Kevin|Jason|Eric|Ryan|Adam|Ben|Sam|Tom|Jack|Harry|George|"
    "Oliver|Lucas|Noah|Liam|Ethan|Mohammed|Ahmed|Raj|Wei|Hiroshi|Carlos|Juan|Luis|Pierre|"
    "Hans|Ivan|Mary|Sarah|Emma|Emily|Jessica|Jennifer|Laura|Anna|Lisa|Karen|Susan|Linda|"
    "Rachel|Rebecca|Amy|Kate|Sophie|Olivia|Ava|Mia|Chloe|Grace|Lucy|Hannah|Megan|Julia|"
    "Maria|Ana|Fatima|Priya|Mei|Yuki|Sofia|Elena|Claire|Helen|Alice|Victoria|Natalie"
)
LAST_NAMES = _split(
    "Smith|Johnson|Williams|Brown|Jones|Garcia|Miller|Davis|Rodriguez|Martinez|Hernandez|"
    "Lopez|Wilson|Anderson|Thomas|Taylor|Moore|Jackson|Martin|Lee|Thompson|White|Harris|"
    "Clark|Lewis|Robinson|Walker|Young|Allen|King|Wright|Scott|Hill|Green|Adams|Baker|"
    "Nelson|Carter|Mitchell|Roberts|Turner|Phillips|Campbell|Parker|Evans|Edwards|Collins|"
    "Stewart|Morris|Murphy|Cook|Rogers|Morgan|Cooper|Peterson|Reed|Bailey|Bell|Kelly|"
    "Howard|Ward|Cox|Richardson|Wood|Watson|Brooks|Bennett|Gray|Hughes|Price|Sanders|"
    "Patel|Khan|Singh|Chen|Wang|Li|Zhang|Kim|Nguyen|Tanaka|Sato|Müller|Schmidt|Dubois|"
    "Rossi|Silva|Santos|Ivanov|Novak|Kowalski|O'Brien|McDonald|O'Connor|Fitzgerald|Walsh"
)
CITY_COUNTRY = [
    tuple(x.split("/"))
    for x in _split(
        "London/England|Paris/France|New York/USA|Berlin/Germany|Madrid/Spain|Rome/Italy|"
        "Tokyo/Japan|Sydney/Australia|Toronto/Canada|Chicago/USA|Los Angeles/California|"
        "San Francisco/California|Boston/USA|Seattle/USA|Miami/Florida|Dublin/Ireland|"
        "Edinburgh/Scotland|Manchester/England|Liverpool/England|Amsterdam/Netherlands|"
        "Barcelona/Spain|Lisbon/Portugal|Vienna/Austria|Prague/Czech Republic|Budapest/Hungary|"
        "Warsaw/Poland|Stockholm/Sweden|Oslo/Norway|Copenhagen/Denmark|Helsinki/Finland|"
        "Athens/Greece|Istanbul/Turkey|Dubai/UAE|Mumbai/India|Delhi/India|Singapore/Singapore|"
        "Hong Kong/China|Shanghai/China|Beijing/China|Seoul/South Korea|Bangkok/Thailand|"
        "Melbourne/Australia|Auckland/New Zealand|Cape Town/South Africa|Nairobi/Kenya|Cairo/Egypt|"
        "Mexico City/Mexico|Rio de Janeiro/Brazil|Buenos Aires/Argentina|Vancouver/Canada|"
        "Montreal/Canada|Denver/Colorado|Austin/Texas|Dallas/Texas|Houston/Texas|Atlanta/Georgia|"
        "Nashville/Tennessee|Portland/Oregon|Phoenix/Arizona|Las Vegas/Nevada|Orlando/Florida|"
        "Brighton/England|Bristol/England|Leeds/England|Glasgow/Scotland|Cardiff/Wales|"
        "Oxford/England|Cambridge/England|Bath/England|York/England|Florence/Italy|Venice/Italy|"
        "Munich/Germany|Hamburg/Germany|Zurich/Switzerland|Geneva/Switzerland|Brussels/Belgium|"
        "Lyon/France|Nice/France|Seville/Spain|Valencia/Spain|Porto/Portugal|Krakow/Poland|"
        "Kyoto/Japan|Osaka/Japan|Bali/Indonesia|Cancun/Mexico|Honolulu/Hawaii|Kansas City/Missouri|"
        "Detroit/Michigan|Reykjavik/Iceland|Dubrovnik/Croatia|Marrakech/Morocco"
    )
]
CITIES = [c for c, _ in CITY_COUNTRY]
COUNTRIES = _split(
    "France|Italy|Spain|Germany|England|Scotland|Ireland|Wales|Portugal|Greece|Japan|China|"
    "India|Australia|Canada|Mexico|Brazil|USA|UK|Thailand|Vietnam|Iceland|Norway|Sweden|"
    "Croatia|Turkey|Morocco|Egypt|Kenya|South Africa|New Zealand|Peru|Argentina|Chile|"
    "Switzerland|Austria|Netherlands|Belgium|Poland|Indonesia|California|Texas|Florida"
)
ROLES = _split(
    "CEO|founder|director|president|chairman|head coach|manager|spokesperson|minister|"
    "mayor|senator|professor|chief executive|editor|senior analyst|co-founder|governor"
)
NEWS_EVENTS = _split(
    "press conference|rally|summit|meeting|awards ceremony|premiere|match|festival|"
    "conference|launch event|protest|election night party|town hall|fundraiser|hearing"
)
WEEKDAYS = _split("Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday")
MONTHS = _split(
    "January|February|March|April|May|June|July|August|September|October|November|December"
)
DISHES = _split(
    "Chocolate Chip Cookies|Banana Bread|Chicken Curry|Lasagna|Pancakes|Vegan Brownies|"
    "Apple Pie|Caesar Salad|Beef Stew|Lemon Cake|Pumpkin Soup|Sourdough Bread|Tacos|"
    "Pad Thai|Carrot Cake|Mac and Cheese|Chicken Soup|Shepherd's Pie|Fried Rice|Risotto|"
    "Cheesecake|Guacamole|Hummus|Meatballs|Granola Bars|Blueberry Muffins|Roast Chicken"
)
TOPICS = _split(
    "Gardening|Home Improvement|Travel|Photography|Running|Yoga|Meal Prep|Budgeting|"
    "Interior Design|Parenting|Skincare|Camping|Fishing|Knitting|Baking|Marketing|SEO|"
    "Remote Work|Investing|Dog Training|Wedding Planning|Minimalism|Hiking|Cycling"
)
SPORTS_TEAMS = _split(
    "Arsenal|Chelsea|Liverpool|Manchester United|Real Madrid|Barcelona|Juventus|Lakers|"
    "Yankees|Patriots|Celtics|Warriors|Bayern Munich|Red Sox|Cowboys|All Blacks|Leeds United"
)
AGENCIES = _split("Getty Images|AP Photo|Reuters|AFP|PA Images|Shutterstock|EPA|Alamy")

SHORT_UI = [
    # (text, weight): boilerplate images and their exact-duplicate alt texts
    ("logo", 40),
    ("Logo", 25),
    ("image", 22),
    ("Image", 14),
    ("icon", 10),
    ("1", 8),
    ("2", 4),
    ("3", 3),
    ("Home", 6),
    ("Facebook", 9),
    ("Twitter", 7),
    ("Instagram", 7),
    ("Pinterest", 4),
    ("YouTube", 4),
    ("LinkedIn", 4),
    ("facebook", 3),
    ("twitter", 2),
    ("Search", 4),
    ("search", 2),
    ("Cart", 3),
    ("Menu", 3),
    ("Close", 3),
    ("close", 2),
    ("Click here", 6),
    ("click here", 2),
    ("Read more", 5),
    ("avatar", 6),
    ("Avatar", 3),
    ("profile picture", 3),
    ("Profile Picture", 2),
    ("user", 3),
    ("thumbnail", 3),
    ("banner", 4),
    ("Banner", 2),
    ("photo", 8),
    ("Photo", 5),
    ("picture", 3),
    ("img", 3),
    ("Loading...", 3),
    ("loading", 2),
    ("spacer", 2),
    ("placeholder", 2),
    ("Product image", 5),
    ("product image", 3),
    ("Featured image", 4),
    ("No image available", 3),
    ("default", 2),
    ("Previous", 2),
    ("Next", 2),
    ("arrow", 2),
    ("Play", 2),
    ("Download", 2),
    ("PayPal", 2),
    ("Visa", 2),
    ("Mastercard", 2),
    ("Free shipping", 2),
    ("Back to top", 2),
    ("Email", 2),
    ("RSS", 1),
    ("Print", 1),
    ("Share", 2),
    ("Instagram photo", 2),
    ("Image placeholder", 1),
    ("header image", 2),
    ("Header", 1),
    ("hero image", 1),
    ("Shop now", 2),
    ("Sale", 3),
    ("New", 2),
    ("star", 2),
    ("rating", 1),
    ("check", 1),
    ("map", 2),
    ("Map", 1),
    ("Google Maps", 1),
    ("App Store", 2),
    ("Google Play", 2),
    ("Contact us", 2),
    ("phone", 1),
    ("WhatsApp", 2),
    ("Tripadvisor", 1),
    ("Trustpilot", 1),
    ("Powered by WordPress", 1),
    ("Photo of the day", 1),
    ("Gallery", 1),
    ("Video", 2),
    ("video thumbnail", 1),
    ("Advertisement", 2),
    ("Sponsored", 1),
    ("Ad", 1),
    ("x", 1),
    ("-", 1),
    ("*", 1),
    ("a", 1),
    ("pic", 1),
    ("photo 1", 1),
    ("image 1", 2),
    ("Image 1", 2),
    ("untitled", 2),
    ("Untitled", 1),
    ("Untitled design", 2),
    ("Screen Shot", 1),
    ("cover", 1),
    ("Cover", 1),
]

FOREIGN = {
    "de": (
        "Damen|Herren|Kinder|Schuhe|Lederstiefel|schwarz|weiß|Sommerkleid|Neue Kollektion|"
        "Jetzt kaufen|Blick auf die Altstadt|Ferienwohnung am See|mit Garten|Bild|Startseite|"
        "Angebot|Küche|Wohnzimmer|für|und|Geschenk|Weihnachten|Hochzeit|Rezept|Kuchen|"
        "Stadt|Berge|im Winter|Größe 38|Versandkostenfrei|Schlafzimmer|Unser Team",
        " ",
    ),
    "fr": (
        "Robe d'été|Chaussures femme|noir|blanc|Vue sur la mer|Appartement à louer|"
        "Cuisine équipée|Recette facile|gâteau au chocolat|Accueil|Nouvelle collection|"
        "Acheter maintenant|pour homme|avec jardin|La plage|en été|Photo de|Taille M|Soldes|"
        "Livraison gratuite|Chambre|Salle de bain|Notre équipe|maison à vendre|à Paris",
        " ",
    ),
    "es": (
        "Zapatos de mujer|Vestido de verano|negro|blanco|Vista al mar|Casa en venta|"
        "con piscina|Receta fácil|pastel de chocolate|Inicio|Nueva colección|Comprar ahora|"
        "para hombre|La playa|en invierno|Foto de|Talla M|Ofertas|Envío gratis|Cocina|"
        "Dormitorio|Nuestro equipo|Madrid|hecho a mano|niños",
        " ",
    ),
    "ja": (
        "レディース|メンズ|ブーツ|黒|白|ワンピース|送料無料|新作|東京|京都の風景|桜|料理|"
        "レシピ|ホーム|商品画像|セール|今すぐ購入|夏|冬|かわいい|バナー|ロゴ|写真|一覧|"
        "キッチン|インテリア|猫|犬",
        "",
    ),
    "zh": (
        "女士|男士|靴子|黑色|白色|连衣裙|包邮|新款|北京|上海风景|美食|菜谱|首页|商品图片|"
        "促销|立即购买|夏季|冬季|可爱|高清图片|图片|标志|客厅|厨房|猫咪|小狗|旅游|产品",
        "",
    ),
    "ru": (
        "Женские|Мужские|ботинки|черный|белый|платье|Бесплатная доставка|Новая коллекция|"
        "Москва|вид на город|рецепт|торт|Главная|Фото|Купить|летом|зимой|квартира|"
        "с балконом|Скидка|логотип|кухня|спальня|подарок|для детей",
        " ",
    ),
}
DOMAIN_WORDS = _split(
    "green|sun|river|stone|maple|urban|north|south|blue|happy|little|golden|wild|coastal|"
    "modern|simple|bright|silver|oak|pine|cedar|willow|harbor|harbour|valley|meadow|summit|"
    "peak|cloud|star|moon|ocean|bay|lake|forest|garden|home|house|nest|hive|craft|maker|"
    "studio|works|lab|hub|corner|market|trade|smart|pure|fresh|true|bold|clever|cozy|cosy|"
    "lucky|sunny|rustic|vintage|retro|pixel|digital|city|metro|village|country|island|"
    "prime|royal|noble|classic|urban|quick|easy|daily|planet|world|global|local|family|"
    "kids|baby|pet|paws|bark|purr|fit|yoga|chef|kitchen|bake|brew|coffee|tea|wine|book|"
    "paper|ink|print|photo|pic|snap|travel|trip|wander|nomad|bike|run|surf|ski|golf|auto|"
    "motor|tech|gadget|phone|tool|fix|build|design|style|fashion|shoe|boot|bag|gem|ring|"
    "bloom|petal|rose|leaf|seed|root|sprout|farm|field|barn|mill|bridge|tower|castle|crown"
)
FOREIGN_TLD = {"de": "de", "fr": "fr", "es": "es", "ja": "jp", "zh": "cn", "ru": "ru"}
FOREIGN_LATIN = ("de", "fr", "es")
FOREIGN_OTHER = ("ja", "zh", "ru")


# Keep the synthetic brands, domains and product themes presentable.
_BLOCK = frozenset(
    [
        "sex",
        "sexy",
        "porn",
        "porno",
        "fuck",
        "fucking",
        "fucked",
        "shit",
        "shitty",
        "ass",
        "asshole",
        "dick",
        "cock",
        "pussy",
        "cunt",
        "bitch",
        "bitches",
        "slut",
        "whore",
        "nigga",
        "nigger",
        "fag",
        "faggot",
        "rape",
        "raped",
        "rapist",
        "nazi",
        "nazis",
        "poop",
        "penis",
        "vagina",
        "boobs",
        "tits",
        "cum",
        "anal",
        "nude",
        "naked",
        "hitler",
        "isis",
        "terrorist",
        "terrorists",
        "kill",
        "killed",
        "killing",
        "murder",
        "suicide",
        "dead",
        "death",
        "drugs",
        "cocaine",
        "heroin",
        "damn",
        "hell",
        "bastard",
        "retard",
        "retarded",
        "gay",
        "lesbian",
        "jihad",
    ]
)


@lru_cache(maxsize=1)
def _vocab() -> dict[str, Weighted]:
    """All weighted word lists (built once per process; deterministic)."""
    import wordfreq

    top = wordfreq.top_n_list("en", 60_000)
    # Open vocabulary (themes, brand names): skip the 1,000 most frequent words (mostly
    # function words and verbs) and obvious verb/adverb forms; plain ASCII words only.
    open_words = [
        w
        for w in top[1000:]
        if w.isascii()
        and w.isalpha()
        and 3 <= len(w) <= 12
        and w not in _BLOCK
        and not w.endswith(("ly", "ed", "ing"))
    ]
    open_w = [wordfreq.word_frequency(w, "en") ** 0.75 for w in open_words]
    v = {
        "open": Weighted(open_words, open_w),
        "color": fw(COLORS),
        "fabric": fw(FABRICS),
        "material": fw(MATERIALS),
        "adj": fw(ADJECTIVES),
        "gender": fw(GENDERS),
        "apparel": zw(APPAREL, 1.2),
        "size": uw(SIZES),
        "home": zw(HOME_ITEMS, 1.2),
        "animal": fw(ANIMALS),
        "breed": zw(DOG_BREEDS, 1.2),
        "motif": fw(MOTIFS),
        "electronics": zw(ELECTRONICS, 1.2),
        "ebrand": fw(E_BRANDS),
        "espec": uw(E_SPECS),
        "compat": uw(COMPAT),
        "furniture": zw(FURNITURE, 1.2),
        "garden": zw(GARDEN, 1.2),
        "jewelry": zw(JEWELRY, 1.2),
        "metal": uw(METALS),
        "food": zw(FOOD, 1.2),
        "weight": uw(WEIGHTS),
        "carpart": zw(CAR_PARTS, 1.2),
        "car": uw(CARS),
        "toy": zw(TOYS, 1.2),
        "occasion": zw(OCCASIONS, 1.2),
        "subject": zw(SUBJECTS, 1.2),
        "action": zw(ACTIONS, 1.2),
        "place": zw(PLACES, 1.2),
        "still": zw(STILL_LIFE, 1.2),
        "surface": uw(SURFACES),
        "room": zw(ROOMS, 1.2),
        "landscape": zw(LANDSCAPES, 1.2),
        "first": zw(FIRST_NAMES, 0.8),
        "last": zw(LAST_NAMES, 0.8),
        "city": zw(CITIES),
        "city_country": zw(CITY_COUNTRY),
        "country": zw(COUNTRIES),
        "role": zw(ROLES, 1.2),
        "event": zw(NEWS_EVENTS, 1.2),
        "weekday": uw(WEEKDAYS),
        "month": uw(MONTHS),
        "dish": zw(DISHES, 1.2),
        "topic": zw(TOPICS, 1.2),
        "team": zw(SPORTS_TEAMS, 1.2),
        "agency": uw(AGENCIES),
        "short_ui": Weighted([t for t, _ in SHORT_UI], [float(w) ** 1.5 for _, w in SHORT_UI]),
    }
    for lang, (phrases, _sep) in FOREIGN.items():
        v["lang_" + lang] = uw(_split(phrases))
    return v


# --------------------------------------------------------------------------------------
# Text generators (one per kind). Each takes (Draw, vocab, brand) and returns a string.
# --------------------------------------------------------------------------------------


def _cap(w: str) -> str:
    return w[:1].upper() + w[1:]


def _title(s: str) -> str:
    small = {"of", "and", "for", "in", "on", "with", "the", "a", "to", "by", "at"}
    words = s.split(" ")
    return " ".join(
        w if (i > 0 and w in small) or not w[:1].islower() else _cap(w) for i, w in enumerate(words)
    )


def _name(d: Draw, v) -> str:
    return f"{d.w(v['first'])} {d.w(v['last'])}"


def _theme(d: Draw, v) -> str:
    r = d.u()
    if r < 0.3:
        return d.w(v["breed"])
    if r < 0.55:
        return d.w(v["animal"])
    if r < 0.75:
        return d.w(v["motif"])
    return _cap(d.w(v["open"]))


def _colour(d: Draw, v) -> str:
    if d.chance(0.12):
        return f"{d.w(v['color'])} and {d.w(v['color'])}"
    return d.w(v["color"])


def _price(d: Draw) -> str:
    cur = d.pick(["£", "$", "$", "€", "$"])
    return f"{cur}{d.int(3, 249)}.{d.pick(['99', '95', '00', '49'])}"


def gen_product(d: Draw, v, brand: str) -> str:
    r = d.u()
    if r < 0.26:  # apparel
        parts = []
        if d.chance(0.6):
            parts.append(d.w(v["gender"]))
        if d.chance(0.7):
            parts.append(_colour(d, v))
        if d.chance(0.4):
            parts.append(d.w(v["fabric"]))
        if d.chance(0.2):
            parts.append(d.w(v["adj"]))
        parts.append(d.w(v["apparel"]))
        s = " ".join(parts)
        if d.chance(0.2):
            s += f" Size {d.pick([str(d.int(4, 12)), d.w(v['size'])])}"
        elif d.chance(0.08):
            s += f" - {d.w(v['size'])}"
    elif r < 0.5:  # home & gifts
        t = d.u()
        if t < 0.5:
            s = f"{_theme(d, v)} {d.w(v['home'])}"
            if d.chance(0.25):
                s = f"{d.w(v['adj'])} {s}"
        elif t < 0.8:
            s = f"{_colour(d, v)} {d.w(v['material'])} {d.w(v['home'])}"
        else:
            s = f"{d.w(v['occasion'])} {d.w(v['home'])}"
            if d.chance(0.3):
                s = f"Personalised {s}"
        if d.chance(0.1):
            s += f" Gift for {d.pick(['Her', 'Him', 'Mum', 'Dad', 'Kids', 'Dog Lovers'])}"
    elif r < 0.62:  # electronics
        t = d.u()
        if t < 0.45:
            s = f"{d.w(v['ebrand'])} {d.w(v['electronics'])}"
            if d.chance(0.5):
                s += f" {d.w(v['espec'])}"
        elif t < 0.8:
            s = f"{d.w(v['electronics'])} {d.w(v['compat'])}"
        else:
            s = f"{d.w(v['adj'])} {d.w(v['electronics'])}"
    elif r < 0.7:  # furniture
        s = f"{d.w(v['material'])} {d.w(v['furniture'])}"
        if d.chance(0.4):
            s = f"{_theme(d, v) if d.chance(0.3) else d.w(v['adj'])} {s}"
        if d.chance(0.15):
            s += f" in {d.w(v['color'])}"
    elif r < 0.77:  # garden & tools
        s = d.w(v["garden"])
        if d.chance(0.5):
            s = f"{d.pick([d.w(v['adj']), d.w(v['adj']), _cap(d.w(v['open']))])} {s}"
    elif r < 0.85:  # jewelry
        if d.chance(0.6):
            s = f"{d.w(v['metal'])} {d.w(v['motif'])} {d.w(v['jewelry'])}"
        else:
            s = f"{d.w(v['motif'])} {d.w(v['jewelry'])} in {d.w(v['metal'])}"
    elif r < 0.91:  # food
        s = f"{_cap(d.w(v['open'])) if d.chance(0.4) else brand} {d.w(v['food'])}"
        if d.chance(0.5):
            s += f" {d.w(v['weight'])}"
    elif r < 0.95:  # car parts
        s = f"{d.w(v['carpart'])} {d.w(v['car'])}"
    else:  # toys
        s = f"{_theme(d, v)} {d.w(v['toy'])}" if d.chance(0.5) else d.w(v["toy"])
        if d.chance(0.3):
            s += f" for Kids Ages {d.int(2, 8)}+"
    # Decorations seen on real product alt texts.
    if d.chance(0.05):
        s += f", {d.pick(['Set of', 'Pack of'])} {d.int(2, 12)}"
    if d.chance(0.06):
        s += f" | {brand}"
    elif d.chance(0.04):
        s += f" - {brand}"
    if d.chance(0.04):
        s += f" {_price(d)}"
    if d.chance(0.03):
        s += f" ({d.pick(['SKU', 'Art.', 'Ref', 'Item'])} {d.int(1000, 99999)})"
    if d.chance(0.03):
        s = f"{d.pick(['New', 'NEW', 'Sale', 'Hot', 'Best Seller'])} {s}"
    if d.chance(0.06):
        s = f"{s} - Image {d.int(1, 8)}" if d.chance(0.5) else f"{s} {d.int(1, 5)}"
    r = d.u()
    if r < 0.08:
        s = s.upper()
    elif r < 0.13:
        s = s.lower()
    return s


def gen_caption(d: Draw, v, brand: str) -> str:
    r = d.u()
    if r < 0.3:
        s = f"{d.w(v['subject'])} {d.w(v['action'])} {d.w(v['place'])}"
        lead = d.u()
        if lead < 0.25:
            s = f"A photo of {s}"
        elif lead < 0.35:
            s = f"Image of {s}"
        elif lead < 0.42:
            s = f"Picture of {s}"
        s = _cap(s)
    elif r < 0.45:
        s = _cap(f"{d.w(v['still'])} {d.w(v['surface'])}")
        if d.chance(0.3):
            s = f"Close-up of {d.w(v['still'])} {d.w(v['surface'])}"
    elif r < 0.6:
        tmpl = d.u()
        room = d.w(v["room"])
        if tmpl < 0.35:
            s = f"Image of the new {room}"
        elif tmpl < 0.65:
            s = _cap(
                f"{room} with {d.pick(['fireplace', 'wooden floors', 'a view', 'pool', 'island', 'skylight', 'white cabinets', 'large windows'])}"
            )
        else:
            s = _cap(room)
    elif r < 0.75:
        t = d.u()
        if t < 0.3:
            s = f"View of {d.w(v['landscape'])} from {d.pick(['the hotel', 'the top', 'the hill', 'above', 'the terrace', 'our room'])}"
        elif t < 0.55:
            s = f"Aerial view of {d.w(v['city'])}"
        elif t < 0.8:
            s = _cap(f"{d.w(v['landscape'])} at {d.pick(['sunset', 'night', 'dawn', 'dusk'])}")
        else:
            s = f"{d.w(v['city'])} {d.pick(['skyline', 'at night', 'old town', 'harbour', 'street'])}"
    elif r < 0.88:  # stock-photo style
        t = d.u()
        noun = d.w(v["animal"]) if d.chance(0.4) else _cap(d.w(v["open"]))
        if t < 0.3:
            s = f"{noun} stock photo"
        elif t < 0.5:
            s = f"{noun} icon vector illustration"
        elif t < 0.7:
            s = f"{noun} on white background"
        elif t < 0.85:
            s = f"Photo by {_name(d, v)} on Unsplash"
        else:
            s = f"{noun} - royalty free stock photo"
    else:
        s = f"{d.pick(['Our', 'The', 'My'])} {d.pick(['team', 'new office', 'garden', 'family', 'dog', 'wedding day', 'shop', 'studio', 'trip'])}"
        if d.chance(0.4):
            s += f" in {d.w(v['city'])}"
    if d.chance(0.15):
        s += "."
    return s


def gen_gallery(d: Draw, v, brand: str) -> str:
    i = d.geom(0.35, 20)
    n = i + d.int(0, 10)
    r = d.u()
    if r < 0.3:
        return f"Image {i} of {n}"
    if r < 0.45:
        return f"Photo {i} of {n}"
    if r < 0.55:
        return f"{d.pick(['Slide', 'slide', 'Picture', 'Thumbnail'])} {i}"
    if r < 0.7:
        return f"{gen_product(d, v, brand)} {d.pick(['image', 'photo', 'thumbnail'])} {i}"
    if r < 0.8:
        return f"{i} of {n}"
    if r < 0.9:
        return f"{d.pick(['gallery', 'slider', 'carousel', 'thumb'])}-{i}"
    return f"{d.pick(['Gallery image', 'gallery image', 'Image', 'image'])} {i}"


def gen_news(d: Draw, v, brand: str) -> str:
    r = d.u()
    city = d.w(v["city"])
    if r < 0.15:
        s = f"{_name(d, v)} speaks during a {d.w(v['event'])} in {city} on {d.w(v['weekday'])}"
    elif r < 0.27:
        s = f"{_name(d, v)}, {d.w(v['role'])} of {_cap(d.w(v['open']))} {d.pick(['Inc', 'Group', 'Ltd', 'Foundation', 'University', 'Council'])}"
    elif r < 0.37:
        s = f"{d.w(v['team'])} players celebrate after {d.pick(['winning the final', 'scoring', 'the match', 'their victory'])}"
    elif r < 0.46:
        s = f"{d.pick(['Firefighters', 'Police', 'Rescue workers', 'Residents', 'Volunteers'])} at the scene in {city} on {d.w(v['month'])} {d.int(1, 28)}, {d.int(2008, 2023)}"
    elif r < 0.54:
        s = f"{_name(d, v)} arrives at the {d.pick(['premiere', 'gala', 'awards', 'launch'])} in {city}"
    elif r < 0.62:
        s = f"{d.pick(['Protesters', 'Crowds', 'Fans', 'Supporters'])} gather outside {d.pick(['parliament', 'the stadium', 'city hall', 'the court'])} in {city}"
    elif r < 0.7:
        s = f"{d.pick(['Flooding', 'Snow', 'Storm damage', 'Traffic', 'Wildfire smoke'])} in {city}"
    elif r < 0.78:
        s = f"{_name(d, v)} (left) and {_name(d, v)}"
    elif r < 0.86:
        s = f"File photo: {_name(d, v)}"
    elif r < 0.93:
        s = f"{_name(d, v)} | Photo: {d.w(v['agency'])}"
    else:
        s = f"({d.pick(['Photo by', 'Image:', 'Credit:'])} {_name(d, v)}/{d.w(v['agency'])})"
    if d.chance(0.2):
        s += "."
    return s


def gen_blog(d: Draw, v, brand: str) -> str:
    r = d.u()
    if r < 0.15:
        verb, obj = d.pick(
            [
                ("Make", d.w(v["dish"])),
                ("Choose", d.w(v["home"])),
                ("Clean", d.w(v["home"])),
                ("Paint", d.w(v["furniture"])),
                ("Style", d.w(v["apparel"])),
                ("Build", d.w(v["garden"])),
                ("Decorate", _cap(d.w(v["room"]))),
                ("Plan", _cap(d.w(v["room"]))),
            ]
        )
        s = f"How to {verb} {d.pick(['a', 'Your', 'the Perfect'])} {obj}"
    elif r < 0.3:
        s = f"{d.int(3, 25)} Best {d.w(v['home']) if d.chance(0.5) else d.w(v['electronics'])}s for {d.int(2015, 2023)}"
    elif r < 0.48:
        s = f"{d.pick(['Easy', 'Best', 'Healthy', 'Vegan', 'Homemade', 'Quick', ''])} {d.w(v['dish'])} {d.pick(['Recipe', 'recipe', ''])}".strip()
    elif r < 0.58:
        s = f"The Ultimate Guide to {d.w(v['topic'])}"
    elif r < 0.7:
        s = f"{d.int(5, 30)} Things to Do in {d.w(v['city'])}"
    elif r < 0.8:
        s = f"Our Trip to {d.w(v['city']) if d.chance(0.6) else d.w(v['country'])}"
    elif r < 0.88:
        s = f"My {_cap(d.w(v['room']))} Makeover"
    elif r < 0.94:
        s = f"{d.w(v['topic'])} Tips for Beginners"
    else:
        s = f"Review: {gen_product(d, v, brand)}"
    s = s.replace("  ", " ")
    if d.chance(0.25):
        s = s.lower().replace(" ", "-") if d.chance(0.3) else _title(s)
    return s


def gen_person(d: Draw, v, brand: str) -> str:
    n = _name(d, v)
    r = d.u()
    if r < 0.45:
        return n
    if r < 0.55:
        return f"Dr. {n}" if d.chance(0.5) else f"Portrait of {n}"
    if r < 0.7:
        return f"{n}, {_title(d.w(v['role']))}"
    if r < 0.8:
        return f"{n} headshot"
    if r < 0.9:
        first, last = n.split(" ", 1)
        return f"{last}, {first}" if d.chance(0.5) else f"{first[0]}. {last}"
    return f"{n.split(' ')[0].lower()}{n.split(' ')[-1][:1].lower()}{d.int(1, 99)}"


def gen_place(d: Draw, v, brand: str) -> str:
    r = d.u()
    if r < 0.35:
        return ", ".join(d.w(v["city_country"]))
    if r < 0.55:
        return d.w(v["city"])
    if r < 0.7:
        return f"{d.pick(['Hotel', 'Beach in', 'Map of', 'Downtown', 'Holiday in', 'Visit'])} {d.w(v['city'])}"
    if r < 0.85:
        return f"{d.w(v['city'])} {d.pick(['map', 'skyline', 'hotel', 'apartment', 'office'])}"
    return d.w(v["country"])


def gen_short(d: Draw, v, brand: str) -> str:
    s = d.w(v["short_ui"])
    if d.chance(0.12):
        s = f"{brand} {s}" if d.chance(0.7) else f"{brand}"
    return s


def gen_punct(d: Draw, v, brand: str) -> str:
    r = d.int(0, 21)
    p = d.pick(["10", "15", "20", "25", "30", "40", "50", "60", "70"])
    h, m = d.int(1, 12), d.pick(["00", "15", "30", "45"])
    return [
        f"Sale! {p}% off...",
        f"{h}:{m} pm",
        f"SALE!!! Up to {p}% OFF",
        "*** NEW ***",
        f"Buy {d.int(2, 3)}, get 1 free!",
        "Q&A: what's next?",
        f"{_price(d)} — Limited time!",
        f"© {d.int(2010, 2023)} {brand}. All rights reserved.",
        ">>> Shop now <<<",
        f"{d.int(3, 5)}/5 stars ({d.int(2, 500)} reviews)",
        "Open: Mon–Fri, 9:00–17:00",
        f"Call us: +44 (0){d.int(10, 99)} {d.int(1000, 9999)} {d.int(1000, 9999)}",
        "★★★★★",
        "Wow!!! Amazing :)",
        "...",
        f"Hi! I'm {d.w(v['first'])}.",
        f"Free shipping on orders over ${d.pick(['35', '50', '75', '99'])}!",
        f"Rating: {d.int(1, 4)}.{d.int(0, 9)}/5",
        f"Ends: {d.int(1, 12)}/{d.int(1, 28)}/{d.int(2015, 2023)}!",
        f"{d.w(v['home'])}: {_price(d)} (was {_price(d)})",
        f"{d.w(v['first'])}'s {d.pick(['birthday', 'wedding', 'graduation'])}!!! :-)",
        f"{h}:{m}",
    ][r]


def gen_number(d: Draw, v, brand: str) -> str:
    r = d.u()
    if r < 0.3:
        return str(d.geom(0.45, 12))
    if r < 0.45:
        return str(d.int(2005, 2023))
    if r < 0.6:
        return (
            f"{d.pick(['Page', 'Step', 'Day', 'Week', 'Chapter', 'Room', 'Lot'])} {d.geom(0.3, 30)}"
        )
    if r < 0.7:
        return f"#{d.geom(0.3, 20)}" if d.chance(0.5) else f"No. {d.geom(0.3, 20)}"
    if r < 0.85:
        return f"{d.int(1, 12):02d}/{d.int(1, 28):02d}/{d.int(2010, 2023)}"
    return f"{d.int(1, 9)}/{d.int(2, 10)}" if d.chance(0.5) else f"{d.int(1, 100)}%"


def gen_filename(d: Draw, v, brand: str) -> str:
    y, mo, dd = d.int(2010, 2023), d.int(1, 12), d.int(1, 28)
    ts = f"{y}{mo:02d}{dd:02d}_{d.int(0, 23):02d}{d.int(0, 59):02d}{d.int(0, 59):02d}"
    r = d.int(0, 19)
    ext = d.pick([".jpg", ".jpg", ".png", ".JPG", ".jpeg", ""])
    return [
        f"IMG_{ts}{ext}",
        f"DSC{d.int(0, 99999):05d}",
        f"DSC_{d.int(0, 9999):04d}{ext}",
        f"P{d.int(1000000, 1999999)}",
        f"banner-{d.int(1, 5)}",
        d.pick(["hero-bg", "header-bg", "bg-image", "home-slider", "footer-logo", "logo-white"]),
        f"image{d.int(1, 20):03d}{ext}",
        f"Screenshot {y}-{mo:02d}-{dd:02d} at {d.int(1, 12)}.{d.int(10, 59)}.{d.int(10, 59)}",
        f"photo-{d.int(1400000000, 1700000000)}",
        ts,
        d.pick(["unnamed", "unnamed (1)", "download", "download (2)", "images", "index"]),
        f"WhatsApp Image {y}-{mo:02d}-{dd:02d} at {d.int(10, 23)}.{d.int(10, 59)}.{d.int(10, 59)}",
        d.hexs(d.pick([8, 12, 32])),
        f"img-{d.int(100, 9999)}",
        d.pick(["fb-icon", "tw-icon", "ig-icon", "icon-cart", "ico_search", "btn-close"]),
        f"product_{d.int(1000, 99999)}_{d.int(1, 6)}",
        f"shutterstock_{d.int(100000000, 999999999)}",
        f"GettyImages-{d.int(100000000, 1300000000)}",
        f"untitled-{d.int(1, 30)}",
        f"{d.hexs(8)}-{d.hexs(4)}-{d.hexs(4)}-{d.hexs(4)}-{d.hexs(12)}",
    ][r]


def _slug(s: str) -> str:
    out = []
    for ch in s.lower():
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")[:60]


def gen_slug(d: Draw, v, brand: str) -> str:
    r = d.u()
    if r < 0.35:
        return _slug(gen_product(d, v, brand))
    if r < 0.5:
        return _slug(gen_product(d, v, brand)).replace("-", "_")
    if r < 0.62:
        return gen_product(d, v, brand).title().replace(" ", "").replace("'", "")
    if r < 0.8:
        code = "".join(d.pick("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(d.int(1, 3)))
        return f"{code}{d.int(100, 99999)}{d.pick(['', '-XL', '-BLK', '-01', '/2', '-S'])}"
    if r < 0.9:
        return f"{_slug(brand)}-{d.pick(['logo', 'banner', 'hero', 'icon', 'header', 'img'])}"
    return f"{d.w(v['first']).lower()}.{d.w(v['last']).lower()}"


def gen_empty(d: Draw, v, brand: str) -> str:
    return d.pick(["", "", "", "", " ", " ", "  ", "\t", " \n", "\u00a0"])


def gen_foreign(d: Draw, v, brand: str, lang: str) -> str:
    sep = FOREIGN[lang][1]
    if lang in ("ja", "zh") and d.chance(0.2):
        sep = " " if d.chance(0.5) else "\u3000"
    parts = [d.w(v["lang_" + lang]) for _ in range(d.geom(0.45, 4))]
    s = sep.join(parts)
    if d.chance(0.1):
        s = f"{brand} - {s}" if d.chance(0.5) else f"{s} | {brand}"
    return s


def gen_long(d: Draw, v, brand: str) -> str:
    if d.chance(0.5):  # product description
        item = d.pick(["piece", "item", "design", "product", "one"])

        def colours() -> str:
            c = []
            while len(c) < 3:
                x = d.w(v["color"]).lower()
                if x not in c:
                    c.append(x)
            return f"{c[0]}, {c[1]} and {c[2]}"

        sents = [gen_product(d, v, brand) + "."]
        pool = [
            lambda: (
                f"Made from {d.w(v['material']).lower()}, this {item} is perfect for {d.w(v['occasion'])}."
            ),
            lambda: f"Available in {colours()}.",
            lambda: f"Free delivery on all orders over {_price(d)}.",
            lambda: "Machine washable at 30 degrees.",
            lambda: f"Each {item} is made by hand in our {d.w(v['city'])} workshop.",
            lambda: f"Dimensions: {d.int(10, 99)} x {d.int(10, 99)} cm.",
            lambda: (
                f"A great gift for {d.pick(['her', 'him', 'kids', 'friends', 'the whole family'])}."
            ),
            lambda: _cap(f"{d.w(v['subject'])} {d.w(v['action'])} {d.w(v['place'])}."),
            lambda: "Please note that colours may vary slightly from the photo.",
            lambda: f"Ships within {d.int(1, 5)} working days.",
        ]
        order = list(range(len(pool)))
        while sum(len(x) + 1 for x in sents) < 470 and order:
            sents.append(pool[order.pop(int(d.u() * len(order)))]())
        s = " ".join(sents)
    else:  # keyword stuffing
        kws = []
        while sum(len(x) + 2 for x in kws) < 480:
            kws.append(
                gen_product(d, v, brand).lower()
                if d.chance(0.7)
                else d.pick([d.w(v["apparel"]), d.w(v["home"]), d.w(v["animal"])]).lower()
            )
        s = ", ".join(kws)
    return s[:560]


# kind -> (share of rows, generator, domain-type weights)
KINDS: dict[str, tuple[float, object, dict[str, float]]] = {
    "product": (0.155, gen_product, {"shop": 0.85, "generic": 0.1, "blog": 0.05}),
    "caption": (0.055, gen_caption, {"blog": 0.4, "stock": 0.3, "generic": 0.15, "news": 0.15}),
    "gallery": (0.055, gen_gallery, {"shop": 0.5, "blog": 0.3, "generic": 0.2}),
    "news": (0.035, gen_news, {"news": 1.0}),
    "blog": (0.03, gen_blog, {"blog": 1.0}),
    "person": (0.022, gen_person, {"news": 0.3, "generic": 0.5, "blog": 0.2}),
    "place": (0.015, gen_place, {"blog": 0.5, "news": 0.2, "stock": 0.3}),
    "short": (0.105, gen_short, {"*": 1.0}),
    "punct": (0.025, gen_punct, {"shop": 0.6, "generic": 0.2, "blog": 0.2}),
    "number": (0.025, gen_number, {"*": 1.0}),
    "long": (0.002, gen_long, {"shop": 0.5, "blog": 0.5}),
    "filename": (0.2, gen_filename, {"blog": 0.4, "generic": 0.3, "shop": 0.2, "news": 0.1}),
    "slug": (0.09, gen_slug, {"shop": 0.8, "generic": 0.2}),
    "empty": (0.035, gen_empty, {"*": 1.0}),
    "foreign_latin": (0.03, None, {"foreign_latin": 1.0}),
    "foreign_other": (0.14, None, {"foreign_other": 1.0}),
}

DOMAIN_TYPES = [
    ("shop", 0.34), ("blog", 0.2), ("news", 0.07), ("stock", 0.04), ("generic", 0.15),
    ("foreign", 0.20),
]  # fmt: skip
TLDS = Weighted(
    ["com", "co.uk", "net", "org", "com.au", "ca", "io", "shop", "store", "us", "info", "co"],
    [50, 10, 8, 7, 3, 3, 2, 2, 2, 2, 2, 2],
)


def _make_domains(d: Draw, v, n_domains: int) -> list[dict]:
    domains = []
    seen: set[str] = set()
    type_wl = Weighted([t for t, _ in DOMAIN_TYPES], [w for _, w in DOMAIN_TYPES])
    langs = list(FOREIGN)
    suffix = {
        "shop": ["shop", "store", "boutique", "direct", "outlet", "co", "online", "supply"],
        "blog": ["blog", "diaries", "life", "kitchen", "journal", "notes", "home", "travels"],
        "news": ["news", "times", "post", "herald", "gazette", "daily", "today", "press"],
        "stock": ["photos", "images", "stock", "pics", "gallery"],
        "generic": ["group", "studio", "design", "consulting", "media", "labs", "church", "law"],
    }
    while len(domains) < n_domains:
        kind = d.w(type_wl)
        lang = None
        if kind == "foreign":
            lang = d.pick(langs)
        w1 = d.pick(DOMAIN_WORDS) if d.chance(0.7) else d.w(v["open"])
        w2 = (d.pick(DOMAIN_WORDS) if d.chance(0.6) else d.w(v["open"])) if d.chance(0.5) else None
        base_kind = "shop" if kind == "foreign" else kind
        r = d.u()
        if r < 0.35:
            name = f"{w1}{w2 or d.pick(suffix[base_kind])}"
        elif r < 0.6:
            name = f"{w1}-{w2 or d.pick(suffix[base_kind])}"
        elif r < 0.75:
            name = f"{d.pick(['the', 'my', 'our', 'get', 'shop'])}{w1}{w2 or ''}"
        elif r < 0.9:
            name = f"{w1}{d.int(1, 999)}"
        else:
            name = f"{d.pick(suffix[base_kind])}-{w1}-{d.int(10, 999)}"
        tld = FOREIGN_TLD[lang] if lang else d.w(TLDS)
        domain = f"{name}.{tld}"
        if domain in seen:
            continue
        seen.add(domain)
        brand = " ".join(_cap(x) for x in (w1, w2) if x)
        r = d.u()
        image_host = (
            f"www.{domain}"
            if r < 0.5
            else d.pick([f"cdn.{domain}", f"images.{domain}", f"static.{domain}", domain])
        )
        page_host = f"www.{domain}" if d.chance(0.7) else domain
        domains.append(
            {
                "type": kind,
                "lang": lang,
                "brand": brand,
                "image_host": image_host,
                "page_host": page_host,
                "n_pages": d.geom(0.04, 200),
                "ext": d.pick(["jpg", "jpg", "jpg", "png", "jpeg", "webp"]),
            }
        )
    return domains


def _image_path(d: Draw, dom: dict, kind: str, text: str) -> str:
    ext = dom["ext"] if d.chance(0.85) else d.pick(["jpg", "png", "gif", "JPG", "svg"])
    slug = _slug(text) if text.strip() else ""
    if not slug or kind in ("filename", "empty"):
        slug = f"img-{d.int(1, 99999)}"
    y, m = d.int(2012, 2023), d.int(1, 12)
    t = dom["type"]
    if kind == "short":
        return f"/{d.pick(['images', 'img', 'assets/img', 'static/images', 'wp-content/themes/main/img'])}/{slug[:24]}-{d.int(1, 999)}.{ext}"
    if t in ("shop", "foreign") and d.chance(0.8):
        r = d.u()
        pid = d.int(100, 999999)
        if r < 0.3:
            return f"/images/products/{pid}.{ext}"
        if r < 0.55:
            return f"/media/catalog/product/{slug[0]}/{slug[1:2] or 'x'}/{slug}.{ext}"
        if r < 0.8:
            return f"/cdn/shop/products/{slug}_{d.pick(['600x', '1024x1024', '800x', 'large'])}.{ext}?v={d.int(1500000000, 1700000000)}"
        return f"/img/p/{pid}-large_default.{ext}"
    if t == "news":
        r = d.u()
        if r < 0.4:
            return f"/resources/images/{d.int(100000, 9999999)}.{ext}?w={d.pick(['640', '1200', '1600'])}"
        if r < 0.75:
            return f"/images/{y}/{m:02d}/{d.int(1, 28):02d}/{slug}.{ext}"
        return f"/media/{d.hexs(10)}.{ext}"
    if t == "stock":
        return f"/photos/{d.int(10000, 9999999)}/{slug}.{ext}"
    if t == "generic" and d.chance(0.5):
        return f"/{d.pick(['assets/img', 'images', 'static/media', 'uploads'])}/{slug}.{ext}"
    size = (
        f"-{d.pick(['300x200', '1024x683', '768x512', '150x150', '600x400'])}"
        if d.chance(0.4)
        else ""
    )
    return f"/wp-content/uploads/{y}/{m:02d}/{slug}{size}.{ext}"


def _page_path(d: Draw, dom: dict, page_no: int) -> str:
    t = dom["type"]
    if page_no == 0:
        return "/"
    # Called once per (domain, page_no); the caller caches the result.
    if t in ("shop", "foreign"):
        return d.pick(
            ["/products/item-", "/product/p", "/collections/all/products/p-", "/p/"]
        ) + str(page_no * 7919 % 100003)
    if t == "news":
        return f"/news/{d.pick(['world', 'local', 'sport', 'business', 'culture'])}/article-{page_no * 104729 % 9999991}"
    if t == "blog":
        return f"/{2012 + page_no % 12}/{1 + page_no % 12:02d}/post-{page_no}/"
    if t == "stock":
        return f"/photo/{page_no * 7919 % 1000003}/"
    return (
        d.pick(["/about-us", "/contact", "/team", "/services", "/gallery", "/portfolio"])
        + f"-{page_no}"
    )


def generate_pool(n_rows: int = DEFAULT_N_ROWS, seed: int = DEFAULT_SEED) -> pa.Table:
    """Generate the synthetic pool as a pyarrow Table (url, uuid, text, page_url)."""
    urls, texts, pages, _kinds = _generate_rows(n_rows, seed)
    return _to_table(urls, texts, pages, seed)


def generator_metadata(n_rows: int, seed: int) -> dict[str, str]:
    """Key-value metadata stored in the parquet file (how to regenerate it)."""
    from importlib.metadata import version

    return {
        "metacurate.sample_pool.generator": "scripts/make_sample_pool.py",
        "metacurate.sample_pool.n_rows": str(n_rows),
        "metacurate.sample_pool.seed": str(seed),
        "metacurate.sample_pool.wordfreq": version("wordfreq"),
        "metacurate.sample_pool.synthetic": "true",
    }


def _to_table(urls: list[str], texts: list[str], pages: list[str], seed: int) -> pa.Table:
    table = pa.table(
        {
            "url": pa.array(urls, pa.string()),
            "uuid": pa.array([url_uuid(u) for u in urls], pa.string()),
            "text": pa.array(texts, pa.string()),
            "page_url": pa.array(pages, pa.string()),
        },
        schema=SCHEMA,
    )
    return table.replace_schema_metadata(generator_metadata(len(urls), seed))


def _generate_rows(n_rows: int, seed: int):
    """Rows as four lists: url, text, page_url and the text kind (kind is not stored)."""
    if n_rows < 1:
        raise ValueError("n_rows must be >= 1")
    v = _vocab()
    d = Draw(seed)
    n_domains = int(min(5000, max(20, n_rows // 10)))
    domains = _make_domains(d, v, n_domains)
    # Zipf-like domain sizes: a few big sites, a long tail of small ones.
    by_type: dict[str, list[int]] = {}
    for i, dom in enumerate(domains):
        keys = ["*", dom["type"]]
        if dom["lang"]:
            keys.append("foreign_latin" if dom["lang"] in FOREIGN_LATIN else "foreign_other")
            keys.append("lang_" + dom["lang"])
        for k in keys:
            by_type.setdefault(k, []).append(i)
    dom_wl = {
        k: Weighted(ix, [1.0 / (rank + 5) ** 1.1 for rank in range(len(ix))])
        for k, ix in by_type.items()
    }
    kind_names = list(KINDS)
    kind_wl = Weighted(kind_names, [KINDS[k][0] for k in kind_names])
    type_wl = {
        k: Weighted(list(KINDS[k][2]), list(KINDS[k][2].values()))
        for k in kind_names
        if all(t in dom_wl for t in KINDS[k][2])
    }
    page_cache: dict[tuple[int, int], str] = {}
    urls: list[str] = []
    texts: list[str] = []
    pages: list[str] = []
    kinds: list[str] = []
    last_product: dict[int, str] = {}
    seen: set[str] = set()
    while len(urls) < n_rows:
        kind = d.w(kind_wl)
        dtype = d.w(type_wl[kind]) if kind in type_wl else "*"
        if dtype not in dom_wl:
            dtype = "*"
        dom_i = d.w(dom_wl[dtype])
        dom = domains[dom_i]
        brand = dom["brand"]
        if kind.startswith("foreign"):
            text = gen_foreign(d, v, brand, dom["lang"])
        elif kind == "product" and dom_i in last_product and d.chance(0.15):
            # Another image of the same product: the same alt text on a different URL.
            text = last_product[dom_i]
        else:
            text = KINDS[kind][1](d, v, brand)
            if kind == "product":
                last_product[dom_i] = text
            if kind in ("product", "caption", "news", "blog") and d.chance(0.02):
                # Raw-attribute noise: double spaces, newlines, tabs, no-break spaces.
                text = text.replace(" ", d.pick(["  ", "\n", " \t", "\u00a0", " \r\n"]), 1)
        page_no = 0 if kind == "short" and d.chance(0.5) else d.int(0, dom["n_pages"])
        key = (dom_i, page_no)
        if key not in page_cache:
            page_cache[key] = f"https://{dom['page_host']}{_page_path(d, dom, page_no)}"
        url = f"https://{dom['image_host']}{_image_path(d, dom, kind, text)}"
        base, k = url, 1
        while url in seen:  # rare: same slug and random id on the same host
            k += 1
            url = f"{base}{'&' if '?' in base else '?'}n={k}"
        seen.add(url)
        urls.append(url)
        texts.append(text)
        pages.append(page_cache[key])
        kinds.append(kind)
    return urls, texts, pages, kinds


def write_pool(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=ZSTD_LEVEL,
        use_dictionary=["text", "page_url"],
        write_statistics=False,
    )


# --------------------------------------------------------------------------------------
# Report: a simple pure-Python matcher (SPEC section 2, token view), measurement only.
# --------------------------------------------------------------------------------------

_WRAP = {c: f" {c} " for c in ",.;:?!`"}
_WRAP.update({"\t": " ", "\n": " ", "\r": " "})
_TRANS = str.maketrans(_WRAP)


def prepare(text: str) -> str:
    return f" {text} ".translate(_TRANS)


def load_metadata(path: Path = DEFAULT_METADATA) -> tuple[list[str], str]:
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f), str(path)
    import wordfreq

    words = wordfreq.top_n_list("en", 200_000)
    seen = set(words)
    out = list(words)
    for w in words:
        c = _cap(w)
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out, "stand-in: wordfreq top 200k + Capitalised copies"


def match_texts(texts: list[str], entries: list[str]) -> list[list[int]]:
    """Entry ids matched by each text: " e " occurs in prepare(text)."""
    index = {e: i for i, e in enumerate(entries)}  # first id wins for duplicates
    max_pieces = max((e.count(" ") + 1 for e in entries), default=1)
    firsts = {e.split(" ", 1)[0] for e in entries}
    out = []
    for t in texts:
        pieces = prepare(t).split(" ")[1:-1]  # interior pieces: each has a space each side
        n = len(pieces)
        ids = set()
        for i in range(n):
            if pieces[i] not in firsts:
                continue
            run = pieces[i]
            j = i
            while True:
                eid = index.get(run)
                if eid is not None:
                    ids.add(eid)
                j += 1
                if j >= n or j - i >= max_pieces:
                    break
                run = f"{run} {pieces[j]}"
        out.append(sorted(ids))
    return out


def _keep_probability(ids: list[int], counts: Counter, t: float) -> float:
    """P(keep) = 1 - prod over matched entries of (1 - min(1, t / count))."""
    q = 1.0
    for e in ids:
        q *= 1.0 - min(1.0, t / counts[e])
    return 1.0 - q


def report(
    table: pa.Table,
    entries: list[str],
    source: str,
    thresholds=REPORT_THRESHOLDS,
    demo_t: float = DEMO_T,
    kinds: list[str] | None = None,
) -> None:
    texts = table.column("text").to_pylist()
    t0 = time.perf_counter()
    matches = match_texts(texts, entries)
    dt = time.perf_counter() - t0
    n = len(texts)
    matched = [m for m in matches if m]
    counts = Counter(e for m in matches for e in m)
    total = sum(counts.values())
    text_counts = Counter(texts)
    print(f"metadata: {source} ({len(entries):,} entries)")
    print(f"texts: {n:,} (matching took {dt:.1f} s)")
    print(
        f"distinct texts: {len(text_counts):,}; rows whose text occurs on another url too: "
        f"{sum(c for c in text_counts.values() if c > 1):,}; empty or whitespace-only: "
        f"{sum(1 for x in texts if not x.strip()):,}"
    )
    print("most repeated texts:", ", ".join(f"{x!r} x{c}" for x, c in text_counts.most_common(8)))
    print(f"texts with >= 1 match: {len(matched):,} ({len(matched) / n:.1%})")
    print(f"matches: {total:,}; mean per matched text: {total / max(1, len(matched)):.2f}")
    print(f"entries with count >= 1: {len(counts):,} of {len(entries):,}")
    buckets = [(1, 1), (2, 9), (10, 99), (100, 999), (1000, None)]
    desc = ", ".join(
        f"{lo}{'-' + str(hi) if hi != lo and hi else '+' if not hi else ''}: "
        f"{sum(1 for c in counts.values() if lo <= c and (hi is None or c <= hi)):,}"
        for lo, hi in buckets
    )
    print(f"entries by count: {desc}")
    print("top 20 entries by count:")
    for eid, c in counts.most_common(20):
        print(f"  {entries[eid]!r:>14} {c:6,}")
    print("    t  entries >= t  tail fraction  expected curated  of matched  of pool")
    for t in thresholds:
        tail = sum(c for c in counts.values() if c < t) / max(1, total)
        exp = sum(_keep_probability(m, counts, t) for m in matched)
        n_head = sum(1 for c in counts.values() if c >= t)
        print(
            f"{t:5g}  {n_head:12,}  {tail:13.1%}  {exp:16,.0f}  "
            f"{exp / max(1, len(matched)):10.1%}  {exp / n:7.1%}"
        )
    # Head entries before and after balancing at the demo threshold (expected counts).
    after = Counter()
    for m in matched:
        pk = _keep_probability(m, counts, demo_t)
        for e in m:
            after[e] += pk
    top20 = [e for e, _ in counts.most_common(20)]
    before = sum(counts[e] for e in top20) / max(1, total)
    after_share = sum(after[e] for e in top20) / max(1e-9, sum(after.values()))
    print(
        f"share of all matches held by the top 20 entries: {before:.1%} before, "
        f"{after_share:.1%} after balancing at t = {demo_t:g} (expected)"
    )
    print(f"top 10 entries at t = {demo_t:g}: count -> expected count after balancing")
    for eid, c in counts.most_common(10):
        print(f"  {entries[eid]!r:>14} {c:6,} -> {after[eid]:7.1f}")
    if kinds is not None:
        by_kind: dict[str, list[list[int]]] = {}
        for k, m in zip(kinds, matches, strict=True):
            by_kind.setdefault(k, []).append(m)
        print(f"by kind: rows, share, matched, mean matches, kept at t = {demo_t:g}")
        for k, ms in sorted(by_kind.items(), key=lambda kv: -len(kv[1])):
            mk = [m for m in ms if m]
            kept = sum(_keep_probability(m, counts, demo_t) for m in mk)
            print(
                f"  {k:14} {len(ms):6,} {len(ms) / n:6.1%} {len(mk) / len(ms):7.1%} "
                f"{sum(map(len, mk)) / max(1, len(mk)):5.2f} {kept / max(1, len(mk)):7.1%}"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=DEFAULT_N_ROWS)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    ap.add_argument("--report", action="store_true", help="print matching statistics")
    ap.add_argument("--metadata", type=Path, default=DEFAULT_METADATA)
    ap.add_argument("--demo-t", type=float, default=DEMO_T, help="threshold for the report")
    ap.add_argument("--no-write", action="store_true", help="do not write the parquet file")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    urls, texts, pages, kinds = _generate_rows(args.rows, args.seed)
    table = _to_table(urls, texts, pages, args.seed)
    dt = time.perf_counter() - t0
    print(f"generated {table.num_rows:,} rows in {dt:.2f} s (seed {args.seed})")
    if not args.no_write:
        write_pool(table, args.output)
        print(f"wrote {args.output} ({args.output.stat().st_size:,} bytes)")
    if args.report:
        entries, source = load_metadata(args.metadata)
        report(table, entries, source, demo_t=args.demo_t, kinds=kinds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
