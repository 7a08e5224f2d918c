"""Names and phrasings for TinySQL. Names that are SQL keywords are excluded, not quoted."""

from __future__ import annotations

# SQLite's keywords (sqlite.org/lang_keywords.html): never used as a table or field name.
SQL_KEYWORDS = frozenset("""
abort action add after all alter always analyze and as asc attach autoincrement before begin
between by cascade case cast check collate column commit conflict constraint create cross
current current_date current_time current_timestamp database default deferrable deferred delete
desc detach distinct do drop each else end escape except exclude exclusive exists explain fail
filter first following for foreign from full generated glob group groups having if ignore
immediate in index indexed initially inner insert instead intersect into is isnull join key
last left like limit match materialized natural no not nothing notnull null nulls of offset on
or order others over partition plan pragma preceding primary query raise range recursive
references regexp reindex release rename replace restrict returning right rollback row rows
savepoint select set table temp temporary then ties to transaction trigger unbounded union
unique update using vacuum values view virtual when where window with without
count sum avg min max total
""".split())


def _clean(words: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for w in words.split():
        if w not in SQL_KEYWORDS:
            seen.setdefault(w, None)
    return tuple(seen)


TABLE_NOUNS = _clean("""
accounts actors addresses agents airlines airports albums animals apartments applicants
appointments articles artists assets athletes auctions authors awards badges bakeries banks
batches beaches benefits bikes bills birds boats bonds books bookings branches brands bridges
budgets buildings buses cabins cafes calendars cameras campaigns candidates cards cargo carriers
cars cases castles cats certificates chairs channels chapters charities cheeses chefs cities
claims classes clients clinics clubs coaches coins colleges comments companies concerts
contacts contests contracts countries coupons courses courts credits crops customers cyclists
dancers deals deliveries dentists departments deposits designers devices diets dishes doctors
documents dogs donations donors drivers drugs elections employees engines episodes events exams
exhibits expenses factories farms festivals films fines flights flowers forests friends fruits
funds games gardens genes gifts goals grades grants guests guides gyms hackers harbors hats
hikes holidays hospitals hotels houses invoices islands items jobs journals judges kitchens
labs lakes lamps languages laptops leagues leases lectures lessons letters libraries licenses
loans lockers machines magazines malls managers maps markets matches meals medals meetings
members menus messages meters miners missions models modules monitors motels mountains movies
museums musicians nurses offices orders_archive painters paintings parcels parks passengers
patients payments pensions pets pharmacies photos pilots planets plants players playlists
poems policies ponds portfolios posts printers prisons products professors projects properties
publishers puzzles quizzes races recipes refunds regions rentals reports reservations
restaurants reviews rivers robots rooms routes runners salaries sales satellites schedules
scholars schools scientists scores sculptures seasons sellers sensors servers shelters ships
shipments shoes shops singers skills songs speakers sponsors sports stadiums stations stocks
stores students studios subjects suppliers surveys swimmers tasks taxes teachers teams tenants
tickets tools tournaments tours towns toys tracks trades trains trees trips trucks tutors
universities vaccines vehicles vendors venues videos villages visitors volunteers voters
wallets warehouses watches websites weddings wells wines workers workshops writers zoos
""")

TABLE_PREFIXES = _clean("""
active archived daily monthly yearly local global new old pending premium regional
""")

TEXT_FIELDS = _clean("""
name title city country state region category status type label code color brand model
genre language email phone address street district zone department role position team
nickname surname first_name last_name full_name username company employer school major
species breed variety flavor material fabric shape size_label tier level_name rank_label
grade_label owner author artist director producer composer publisher supplier vendor
manager mentor coach captain host guest sponsor client partner venue location origin
destination route_name station terminal gate platform channel network carrier provider
platform_name device os browser currency unit method mode format medium style theme
topic subject keyword tag note comment remark description summary motto slogan
weather season month_name weekday shift blood_type diagnosis symptom treatment
ingredient cuisine dish drink crop fruit vegetable mineral element planet galaxy
instrument song_title album_title film_title book_title course_name project_name
product_name item_name store_name team_name club_name league_name event_name
""")

INT_FIELDS = _clean("""
age year quantity stock rating score points rank_value level floor capacity seats
population area_code zip_code duration minutes hours days weeks pages chapters episodes
wins losses draws goals assists rebounds laps votes views likes shares followers
downloads clicks visits orders_count items_count members_count employees_count
students_count beds rooms doors windows wheels engines storeys lanes tracks_count
calories protein_grams sugar_grams steps heartbeats reps sets_count miles kilometers
height_cm weight_kg length_mm width_mm depth_mm temperature altitude speed horsepower
battery_mah memory_gb storage_gb cores threads_count pixels resolution version build_number
priority attempts retries errors_count warnings_count tickets_count
""")

REAL_FIELDS = _clean("""
price cost salary budget revenue profit income expense balance amount fee tax discount
rate interest_rate ratio percentage share_price market_cap weight height length width depth
distance latitude longitude area volume density pressure voltage current_amps power_kw
energy_kwh frequency_hz bandwidth latency_ms margin commission bonus tip deposit_amount
loan_amount credit_limit gpa average_score mileage fuel_efficiency consumption growth
""")

TEXT_VALUES = _clean("""
alpha amber apex aqua arrow aspen atlas aurora azure basil beacon birch blaze bloom bolt
breeze brook canyon cedar cinder citrus clover comet coral cosmos crest crystal dawn delta
dune echo ember falcon fern flint frost garnet glade granite harbor hazel horizon indigo
iris ivory jade jasper juniper lagoon lark laurel lotus lunar maple marble meadow mesa
mist nova oak onyx opal orbit orchid pearl pine prairie quartz raven reef ridge river
sable sage sapphire shadow sierra silver slate solar spruce storm summit terra thistle
thunder topaz tundra valley velvet violet willow zephyr
""")

# Phrasings. "train" ones appear in train/validation/test; "ood" ones only in test_ood.
VERBS = {
    "train": ("show", "list", "get", "display", "return", "give me", "select", "find"),
    "ood": ("fetch", "pull up", "retrieve", "output", "bring up", "provide"),
}
SELECT_TEMPLATES = {
    "train": (
        "{verb} the {fields} from {table}",
        "{verb} {fields} of all {table}",
        "what are the {fields} in the {table} table",
        "{verb} {fields} for every record in {table}",
        "from the {table} table, {verb} {fields}",
        "{verb} the {fields} of each entry in {table}",
    ),
    "ood": (
        "i would like to see {fields} across {table}",
        "for each row of {table}, {verb} its {fields}",
        "could you {verb} {fields} stored in {table}",
        "{table} table: {fields}, please",
    ),
}
ORDER_PHRASES = {
    "train": {
        "ASC": ("sorted by {field} ascending", "ordered by {field} from lowest to highest",
                "in increasing order of {field}", "sorted by {field} with the smallest first"),
        "DESC": ("sorted by {field} descending", "ordered by {field} from highest to lowest",
                 "in decreasing order of {field}", "sorted by {field} with the largest first"),
    },
    "ood": {
        "ASC": ("arranged by {field}, lowest first", "ranked by {field} going up"),
        "DESC": ("arranged by {field}, highest first", "ranked by {field} going down"),
    },
}
AGG_PHRASES = {
    "train": {
        "COUNT": ("the number of {field}", "the count of {field}", "how many {field} values there are"),
        "SUM": ("the total {field}", "the sum of {field}"),
        "AVG": ("the average {field}", "the mean {field}"),
        "MIN": ("the minimum {field}", "the lowest {field}", "the smallest {field}"),
        "MAX": ("the maximum {field}", "the highest {field}", "the largest {field}"),
    },
    "ood": {
        "COUNT": ("the tally of {field}",),
        "SUM": ("the combined {field}", "the overall {field}"),
        "AVG": ("the mean value of {field}",),
        "MIN": ("the least {field}",),
        "MAX": ("the greatest {field}", "the top {field}"),
    },
}
AGG_TEMPLATES = {
    "train": ("{verb} {aggs} from {table}", "what is {aggs} in the {table} table",
              "compute {aggs} over {table}"),
    "ood": ("across {table}, i need {aggs}", "tell me {aggs} for {table}"),
}
WHERE_TEMPLATES = {
    "train": ("where {field} {op} {value}", "whose {field} {op} {value}", "with {field} {op} {value}"),
    "ood": ("only those having {field} {op} {value}", "restricted to {field} {op} {value}"),
}
OP_PHRASES = {
    "train": {
        "=": ("is", "equals"), "!=": ("is not", "does not equal"),
        ">": ("is greater than", "is more than"), "<": ("is less than", "is below"),
        ">=": ("is at least",), "<=": ("is at most",),
    },
    "ood": {
        "=": ("matches",), "!=": ("differs from",), ">": ("exceeds",), "<": ("falls under",),
        ">=": ("is no less than",), "<=": ("is no more than",),
    },
}
