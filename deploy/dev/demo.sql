-- deploy/dev/demo.sql — demo subscribers for development, demos and benchmarks.
--
-- Idempotent: safe to run any number of times (ON CONFLICT DO NOTHING; existing
-- rows, including their balances, are left alone). Needs schema 001+.
-- Balances are set at INSERT, so opening_balance = balance and the ledger
-- invariant holds.
--
--   12345                    demo contract, active, 150.00 RUB, fee 600.00 RUB
--   123450001                suspended
--   123450002                closed
--   700000001 .. 700000300   generated active subscribers (deterministic)

INSERT INTO accounts (contract, phone, email, holder_name, status, balance, monthly_fee)
VALUES
    ('12345',     '+79131234567', 'demo@example.com',      'Иванов Иван Иванович',         'active',    15000, 60000),
    ('123450001', '+79131234568', 'suspended@example.com', 'Петрова Мария Сергеевна',      'suspended', -42000, 45000),
    ('123450002', NULL,           NULL,                    'Сидоров Пётр Николаевич',      'closed',    0,     35000)
ON CONFLICT (contract) DO NOTHING;

-- 300 generated subscribers. Every name part is picked deterministically from
-- small arrays; odd i are men, even i women (surname + 'а', feminine
-- patronymic). Every 20th subscriber shares the previous one's phone (a family
-- with two contracts); every 7th has no email; balances range from -500.00 to
-- +1999.99 RUB (debt is possible).
WITH n AS (
    SELECT
        ARRAY['Иванов','Петров','Смирнов','Кузнецов','Попов','Васильев','Соколов','Михайлов',
              'Новиков','Фёдоров','Морозов','Волков','Алексеев','Лебедев','Семёнов','Егоров',
              'Павлов','Козлов','Степанов','Николаев','Орлов','Андреев','Макаров','Никитин',
              'Захаров','Зайцев','Соловьёв','Борисов','Яковлев','Григорьев'] AS surname,
        ARRAY['ivanov','petrov','smirnov','kuznetsov','popov','vasiliev','sokolov','mikhailov',
              'novikov','fedorov','morozov','volkov','alekseev','lebedev','semenov','egorov',
              'pavlov','kozlov','stepanov','nikolaev','orlov','andreev','makarov','nikitin',
              'zakharov','zaitsev','soloviev','borisov','yakovlev','grigoriev'] AS surname_lat,
        ARRAY['Александр','Сергей','Дмитрий','Андрей','Алексей','Максим','Евгений','Иван',
              'Михаил','Николай','Владимир','Павел','Артём','Олег','Юрий'] AS male,
        ARRAY['Елена','Ольга','Наталья','Татьяна','Ирина','Анна','Светлана','Мария',
              'Екатерина','Юлия','Марина','Галина','Людмила','Ксения','Анастасия'] AS female,
        ARRAY['Александрович','Сергеевич','Викторович','Николаевич','Иванович','Петрович',
              'Владимирович','Михайлович','Андреевич','Юрьевич','Геннадьевич','Олегович'] AS patr_m,
        ARRAY['Александровна','Сергеевна','Викторовна','Николаевна','Ивановна','Петровна',
              'Владимировна','Михайловна','Андреевна','Юрьевна','Геннадьевна','Олеговна'] AS patr_f,
        ARRAY['913','923','952','960','906'] AS mobile
), g AS (
    SELECT i,
           CASE WHEN i % 20 = 0 THEN i - 1 ELSE i END AS phone_i,
           (i * 7) % 30 + 1  AS s,
           (i * 11) % 15 + 1 AS f,
           (i * 5) % 12 + 1  AS p
      FROM generate_series(1, 300) AS i
)
INSERT INTO accounts (contract, phone, email, holder_name, status, balance, monthly_fee)
SELECT (700000000 + g.i)::text,
       '+79' || substr(n.mobile[g.phone_i % 5 + 1], 2) ||
           lpad(((g.phone_i * 7919 + 1234567) % 10000000)::text, 7, '0'),
       CASE WHEN g.i % 7 = 0 THEN NULL
            ELSE n.surname_lat[g.s] || CASE WHEN g.i % 2 = 0 THEN 'a' ELSE '' END
                 || '.' || g.i || '@example.com' END,
       CASE WHEN g.i % 2 = 1
            THEN n.surname[g.s] || ' ' || n.male[g.f] || ' ' || n.patr_m[g.p]
            ELSE n.surname[g.s] || 'а ' || n.female[g.f] || ' ' || n.patr_f[g.p] END,
       'active',
       (g.i * 104729) % 250000 - 50000,
       (ARRAY[35000, 45000, 60000, 90000])[g.i % 4 + 1]
  FROM g CROSS JOIN n
ON CONFLICT (contract) DO NOTHING;
