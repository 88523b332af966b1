"""Word lists for fake (but plausible) Australian and New Zealand clients. No real people or businesses."""

from __future__ import annotations

# Given names with their common nicknames (the nickname is what often ends up in one system).
MALE_NAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby"), "William": ("Bill", "Will", "Billy"), "James": ("Jim", "Jimmy", "Jamie"),
    "Michael": ("Mike", "Mick"), "Christopher": ("Chris",), "Thomas": ("Tom", "Tommy"), "Richard": ("Rick", "Rich"),
    "Anthony": ("Tony",), "Edward": ("Ted", "Ed", "Eddie"), "Alexander": ("Alex", "Sandy"), "Benjamin": ("Ben",),
    "Daniel": ("Dan", "Danny"), "Matthew": ("Matt",), "Nicholas": ("Nick",), "Joseph": ("Joe",), "Andrew": ("Andy", "Drew"),
    "Timothy": ("Tim",), "Gregory": ("Greg",), "Peter": ("Pete",), "Stephen": ("Steve",), "David": ("Dave",),
    "Kenneth": ("Ken",), "Charles": ("Charlie",), "Jonathan": ("Jon",), "Samuel": ("Sam",), "Patrick": ("Paddy", "Pat"),
    "Lachlan": ("Lachie",), "Angus": (), "Hamish": (), "Liam": (), "Noah": (), "Oliver": ("Ollie",), "Jack": (),
    "Cooper": (), "Mitchell": ("Mitch",), "Bradley": ("Brad",), "Nathan": ("Nate",), "Joshua": ("Josh",),
    "Ryan": (), "Luke": (), "Wei": (), "Jun": (), "Minh": (), "Duc": (), "Rajesh": ("Raj",), "Arjun": (),
    "Sanjay": (), "Giorgos": ("George",), "Konstantinos": ("Con", "Kosta"), "Giuseppe": ("Joe", "Pino"),
    "Salvatore": ("Sal",), "Tane": (), "Wiremu": ("Bill",), "Sione": (), "Mohammed": ("Mo",), "Ahmed": (),
    "Kevin": ("Kev",), "Craig": (), "Shane": (), "Darren": (), "Graham": (), "Ian": (), "Warren": (),
}
FEMALE_NAMES: dict[str, tuple[str, ...]] = {
    "Elizabeth": ("Liz", "Beth", "Lizzie"), "Katherine": ("Kate", "Kathy", "Katie"), "Margaret": ("Maggie", "Peg", "Marg"),
    "Patricia": ("Pat", "Trish"), "Jennifer": ("Jen", "Jenny"), "Rebecca": ("Bec", "Becky"), "Samantha": ("Sam",),
    "Victoria": ("Vicky", "Tori"), "Stephanie": ("Steph",), "Jessica": ("Jess",), "Deborah": ("Deb", "Debbie"),
    "Susan": ("Sue",), "Christine": ("Chris",), "Alexandra": ("Alex", "Lexi"), "Catherine": ("Cate", "Cathy"),
    "Jacqueline": ("Jacqui", "Jackie"), "Kimberley": ("Kim",), "Rosemary": ("Rose",), "Penelope": ("Penny",),
    "Abigail": ("Abby",), "Charlotte": ("Charlie", "Lottie"), "Olivia": ("Liv",), "Amelia": ("Millie",),
    "Isla": (), "Mia": (), "Grace": (), "Chloe": (), "Emily": ("Em",), "Sophie": (), "Hannah": (), "Ruby": (),
    "Megan": ("Meg",), "Natalie": ("Nat",), "Michelle": ("Shell",), "Lisa": (), "Karen": (), "Sharon": (),
    "Mei": (), "Ling": (), "Thi": (), "Lan": (), "Priya": (), "Anjali": (), "Sunita": (), "Eleni": ("Helen",),
    "Maria": (), "Giulia": ("Julie",), "Aroha": (), "Mere": ("Mary",), "Losana": (), "Fatima": (), "Aisha": (),
    "Joanne": ("Jo",), "Heather": (), "Wendy": (), "Tracey": (), "Belinda": ("Bel",), "Leanne": (),
}
SURNAMES: tuple[str, ...] = (
    "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Johnson", "White", "Martin", "Anderson", "Thompson",
    "Walker", "Harris", "Ryan", "Robinson", "Kelly", "King", "Campbell", "Clarke", "Mitchell", "Young", "Wright",
    "Lee", "Hall", "Scott", "Green", "Edwards", "Baker", "Hughes", "Turner", "Roberts", "Murphy", "Cooper", "Stewart",
    "Morris", "Ward", "Morgan", "Bennett", "Watson", "Collins", "Gray", "Price", "Russell", "Fraser", "McDonald",
    "MacKenzie", "O'Brien", "O'Connor", "Sullivan", "Fitzgerald", "Henderson", "Hamilton", "Graham", "Slater",
    "Whitfield", "Pemberton", "Ashworth", "Caldwell", "Drummond", "Lockwood", "Harrington", "Beaumont",
    "Nguyen", "Tran", "Le", "Pham", "Huynh", "Chen", "Wang", "Zhang", "Li", "Liu", "Wong", "Chan", "Lim", "Tan",
    "Singh", "Patel", "Sharma", "Kumar", "Gupta", "Reddy", "Papadopoulos", "Nikolaidis", "Georgiou", "Russo",
    "Romano", "Esposito", "Rossi", "Costa", "Ferrari", "Ngata", "Parata", "Tipene", "Walker-Ngata", "Fonoti",
    "Tuilagi", "Haddad", "Khoury", "Nasser", "Kowalski", "Novak", "Schmidt", "Muller", "Van der Berg", "De Jong",
    "Jansen", "Olsen", "Hansen", "Larsen", "Murray", "Doyle", "Byrne", "Gallagher", "Quinn", "Duffy", "Nolan",
)

AU_PLACES: tuple[tuple[str, str, str], ...] = (
    ("Parramatta", "NSW", "2150"), ("Chatswood", "NSW", "2067"), ("Bondi", "NSW", "2026"), ("Penrith", "NSW", "2750"),
    ("Newcastle", "NSW", "2300"), ("Wollongong", "NSW", "2500"), ("Dubbo", "NSW", "2830"), ("Orange", "NSW", "2800"),
    ("Richmond", "VIC", "3121"), ("Geelong", "VIC", "3220"), ("Ballarat", "VIC", "3350"), ("Box Hill", "VIC", "3128"),
    ("St Kilda", "VIC", "3182"), ("Bendigo", "VIC", "3550"), ("Fortitude Valley", "QLD", "4006"),
    ("Toowoomba", "QLD", "4350"), ("Southport", "QLD", "4215"), ("Cairns", "QLD", "4870"), ("Townsville", "QLD", "4810"),
    ("Fremantle", "WA", "6160"), ("Joondalup", "WA", "6027"), ("Bunbury", "WA", "6230"), ("Glenelg", "SA", "5045"),
    ("Mount Gambier", "SA", "5290"), ("Norwood", "SA", "5067"), ("Hobart", "TAS", "7000"), ("Launceston", "TAS", "7250"),
    ("Belconnen", "ACT", "2617"), ("Darwin", "NT", "0800"), ("Alice Springs", "NT", "0870"),
)
NZ_PLACES: tuple[tuple[str, str, str], ...] = (
    ("Ponsonby", "Auckland", "1011"), ("Takapuna", "Auckland", "0622"), ("Manukau", "Auckland", "2104"),
    ("Hamilton", "Waikato", "3204"), ("Tauranga", "Bay of Plenty", "3110"), ("Rotorua", "Bay of Plenty", "3010"),
    ("Napier", "Hawke's Bay", "4110"), ("Palmerston North", "Manawatu-Wanganui", "4410"),
    ("Wellington Central", "Wellington", "6011"), ("Lower Hutt", "Wellington", "5010"), ("Nelson", "Nelson", "7010"),
    ("Riccarton", "Canterbury", "8011"), ("Timaru", "Canterbury", "7910"), ("Dunedin", "Otago", "9016"),
    ("Queenstown", "Otago", "9300"), ("Invercargill", "Southland", "9810"), ("New Plymouth", "Taranaki", "4310"),
    ("Whangarei", "Northland", "0110"), ("Gisborne", "Gisborne", "4010"), ("Blenheim", "Marlborough", "7201"),
)
STREET_NAMES: tuple[str, ...] = (
    "George", "King", "Queen", "Victoria", "Elizabeth", "Albert", "Church", "High", "Station", "Park", "Railway",
    "Bridge", "Mill", "Beach", "Ocean", "Hill", "Forest", "Garden", "Wattle", "Banksia", "Acacia", "Jacaranda",
    "Kauri", "Rimu", "Totara", "Pohutukawa", "Marine", "Harbour", "Bay", "Cliff", "Orchard", "Vineyard", "Windsor",
    "Stirling", "Wellington", "Nelson", "Darling", "Murray", "Hume", "Flinders", "Collins", "Bourke", "Lonsdale",
    "Macquarie", "Pitt", "Hunter", "Ridge", "Valley", "Creek", "Lake",
)
STREET_TYPES: tuple[tuple[str, str], ...] = (
    ("Street", "St"), ("Road", "Rd"), ("Avenue", "Ave"), ("Drive", "Dr"), ("Place", "Pl"), ("Court", "Ct"),
    ("Crescent", "Cres"), ("Parade", "Pde"), ("Terrace", "Tce"), ("Lane", "Ln"), ("Highway", "Hwy"), ("Close", "Cl"),
)
BUSINESS_WORDS: tuple[str, ...] = (
    "Coastal", "Summit", "Harbour", "Southern Cross", "Redgum", "Bluegum", "Ironbark", "Silver Fern", "Kiwi",
    "Outback", "Horizon", "Pinnacle", "Evergreen", "Keystone", "Northern", "Pacific", "Tasman", "Anchor", "Cobalt",
    "Granite", "Meridian", "Riverside", "Sandstone", "Wattle", "Kookaburra", "Emu", "Wombat", "Koru", "Totara",
)
BUSINESS_TRADES: tuple[str, ...] = (
    "Plumbing", "Electrical", "Constructions", "Cafe", "Dental", "Physiotherapy", "Logistics", "Landscaping",
    "Accounting", "Consulting", "Engineering", "Bakery", "Motors", "Joinery", "Roofing", "Cleaning Services",
    "Property Group", "Holdings", "Investments", "Imports", "Hair Studio", "Veterinary Clinic", "Design",
    "Surveying", "Pharmacy", "Fitness", "Tiling", "Painting", "Transport", "Wines",
)
EMAIL_DOMAINS: tuple[str, ...] = (
    "example.com", "example.net", "example.org", "mail.example.com", "inbox.example.net", "post.example.org",
)
